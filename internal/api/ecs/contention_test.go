package ecs_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Many callers registering revisions of one family at once all succeed,
// with the revisions 1..n, and the server never answers 500: callers of
// one family queue instead of racing for its revision counter, and a race
// lost too often would be ThrottlingException, which the SDK retries.
func TestRegisterTaskDefinitionContended(t *testing.T) {
	const n = 64
	e := newSDKEnv(t, 10)
	ctx := ctxT(t)
	revs := make([]int32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := e.c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
				Family: aws.String("hot"),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("app:1"),
					Memory: aws.Int32(64)}},
			})
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			revs[i] = out.TaskDefinition.Revision
		})
	}
	wg.Wait()
	if f := e.failures.Load(); f > 0 {
		t.Errorf("%d answers were HTTP 5xx", f)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions %v are not 1..%d", revs, n)
		}
	}
}
