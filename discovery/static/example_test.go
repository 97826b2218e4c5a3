package static_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/discovery/static"
)

// A resolver over addresses given on the command line.
func ExampleParse() {
	list, err := static.Parse("catalog", "10.0.0.2:8080, 10.0.0.1:8080")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := static.New(list...)
	if err != nil {
		fmt.Println(err)
		return
	}
	w, _ := r.Watch(context.Background(), "catalog")
	defer w.Stop()
	for _, inst := range (<-w.Updates()).Instances {
		fmt.Println(inst.ID)
	}
	_, err = static.Parse("catalog", "10.0.0.1")
	fmt.Println(err)
	// Output:
	// 10.0.0.1:8080
	// 10.0.0.2:8080
	// static: discovery: instance address is not host:port: "10.0.0.1"
}
