package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
)

// A schema is a list of migrations; a seed is one of them, so it runs once.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sqlite-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	schema := []sqlite.Migration{
		sqlite.SQL(`CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`),
		sqlite.SQL(`INSERT INTO notes VALUES ('n1', 'hello')`),
	}
	for range 2 { // the second open finds nothing to do
		db, err := sqlite.Open(ctx, filepath.Join(dir, "notes.db"), schema...)
		if err != nil {
			fmt.Println(err)
			return
		}
		var n int
		_ = db.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n)
		fmt.Println("notes:", n)
		db.Close()
	}
	// Output:
	// notes: 1
	// notes: 1
}
