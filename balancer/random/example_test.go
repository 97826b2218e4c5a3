package random_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/random"
	"github.com/switchyard/switchyard/discovery"
)

func Example() {
	b, err := balancer.New(random.New(), balancer.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	b.Update([]discovery.Instance{
		{ID: "a", Service: "catalog", Addr: "10.0.0.1:8080"},
		{ID: "b", Service: "catalog", Addr: "10.0.0.2:8080"},
		{ID: "c", Service: "catalog", Addr: "10.0.0.3:8080"},
	})

	// Which host comes up is chance; that every host comes up is not.
	seen := map[string]bool{}
	for range 1000 {
		h, err := b.Pick(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		seen[h.Instance.ID] = true
	}
	fmt.Println(random.New().Name(), len(seen), "hosts picked")
	// Output: random 3 hosts picked
}
