package peers

import (
	"context"
	"fmt"
	"github.com/minato-project/minato/internal/testutil"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/store/bolt"
)

func TestServersHearEachOthersAgents(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	heard := make(chan []string, 16)
	a := &Publisher{Store: st, Interval: 20 * time.Millisecond,
		Self: func() Record {
			return Record{Name: "a", APIURL: "http://a", Agents: []string{"i-2", "i-1"}, Leading: true}
		}}
	b := &Publisher{Store: st, Interval: 20 * time.Millisecond,
		Self:  func() Record { return Record{Name: "b", APIURL: "http://b"} },
		Heard: func(ids []string) { heard <- ids }}
	wg.Go(func() { a.Run(ctx) })
	wg.Go(func() { b.Run(ctx) })
	select {
	case got := <-heard:
		if !slices.Equal(got, []string{"i-1", "i-2"}) {
			t.Fatalf("b heard %v, want a's agents", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("b never heard of a's agents")
	}
	testutil.Eventually(t, 20*time.Second, "List to show a (leading) and b", func() (bool, string) {
		rs, err := List(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs) == 2 && rs[0].Name == "a" && rs[0].Leading && rs[1].Name == "b", fmt.Sprintf("%+v", rs)
	})
}
