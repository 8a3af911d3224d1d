package elbv2_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// together runs fs at the same moment and waits for all of them.
func together(fs ...func()) {
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fs {
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-start
			f()
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
}

// DeleteListener and SetRulePriorities on one of its rules at the same
// moment: whichever wins, a deleted listener leaves none of its rules or
// priority index entries behind.
func TestDeleteListenerRacesSetRulePriorities(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	lbARN := aws.ToString(e.createLB(t, "race").LoadBalancerArn)
	tg := aws.ToString(e.createTG(t, "race-tg", types.TargetTypeEnumIp, 80).TargetGroupArn)
	const rounds = 60
	for i := range rounds {
		l := e.createListener(t, lbARN, int32(8000+i), tg)
		larn := aws.ToString(l.ListenerArn)
		r, err := e.c.CreateRule(ctx, &elb.CreateRuleInput{ListenerArn: aws.String(larn), Priority: aws.Int32(10),
			Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/a"}}},
			Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}}})
		if err != nil {
			t.Fatal(err)
		}
		var delErr, setErr error
		together(
			func() { _, delErr = e.c.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: aws.String(larn)}) },
			func() {
				_, setErr = e.c.SetRulePriorities(ctx, &elb.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
					{RuleArn: r.Rules[0].RuleArn, Priority: aws.Int32(20)}}})
			},
		)
		if delErr != nil {
			t.Fatalf("round %d: DeleteListener: %v", i, delErr)
		}
		if setErr != nil {
			wantCode(t, setErr, "RuleNotFound")
		}
		id := larn[strings.LastIndexByte(larn, '/')+1:]
		for _, prefix := range []string{state.RulesPrefix(id), state.RulePrioritiesPrefix(id)} {
			kvs, _, err := e.st.List(context.Background(), prefix, store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range kvs {
				t.Errorf("round %d: the deleted listener left %s behind", i, kv.Key)
			}
		}
	}
}
