package ecs

import (
	"strings"
	"testing"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// RunTask's and CreateService's launch type and capacity provider
// strategy, as ECS checks and defaults them.
func TestLaunchCapacity(t *testing.T) {
	item := func(name string, base, weight int32) ecstypes.CapacityProviderStrategyItem {
		return ecstypes.CapacityProviderStrategyItem{CapacityProvider: name, Base: base, Weight: weight}
	}
	plain := ecstypes.Cluster{ClusterName: "my-cluster"}
	both := ecstypes.Cluster{ClusterName: "c", CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"}}
	defaulted := both
	defaulted.DefaultCapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 0, 1)}
	tests := []struct {
		name    string
		cl      ecstypes.Cluster
		lt      ecstypes.LaunchType
		cps     []ecstypes.CapacityProviderStrategyItem
		wantLT  ecstypes.LaunchType
		wantCPs int
		err     string
	}{
		{"nothing: EC2", plain, "", nil, ecstypes.LaunchTypeEc2, 0, ""},
		{"a launch type", plain, ecstypes.LaunchTypeFargate, nil, ecstypes.LaunchTypeFargate, 0, ""},
		{"the cluster's default strategy", defaulted, "", nil, "", 1, ""},
		{"a launch type wins over the default", defaulted, ecstypes.LaunchTypeEc2, nil, ecstypes.LaunchTypeEc2, 0, ""},
		{"both", both, ecstypes.LaunchTypeFargate, []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1)}, "", 0,
			"Specifying both a launch type and capacity provider strategy is not supported"},
		{"a provider the cluster has not", plain, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE_SPOT", 0, 1)}, "", 0,
			"not associated with the cluster"},
		{"two bases", both, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1, 1), item("FARGATE_SPOT", 1, 1)}, "", 0,
			"Only one capacity provider"},
		{"no weight", both, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 1, 0)}, "", 0, "weight greater than zero"},
		{"a weight too large", both, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1001)}, "", 0, "between 0 and 1000"},
		{"twice", both, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 0, 1), item("FARGATE", 0, 1)}, "", 0, "more than once"},
		{"base and weights", both, "", []ecstypes.CapacityProviderStrategyItem{item("FARGATE", 2, 1), item("FARGATE_SPOT", 0, 3)}, "", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt, cps, err := launchCapacity(tt.cl, tt.lt, tt.cps)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || lt != tt.wantLT || len(cps) != tt.wantCPs {
				t.Fatalf("launchCapacity = %q %v %v, want %q and %d providers", lt, cps, err, tt.wantLT, tt.wantCPs)
			}
		})
	}
}

func TestCheckPlatformAndFargateSize(t *testing.T) {
	for _, tc := range []struct {
		lt      ecstypes.LaunchType
		version string
		ok      bool
	}{
		{ecstypes.LaunchTypeFargate, "", true}, {ecstypes.LaunchTypeFargate, "LATEST", true}, {ecstypes.LaunchTypeFargate, "1.4.0", true},
		{ecstypes.LaunchTypeFargate, "1.3.0", true}, {ecstypes.LaunchTypeFargate, "9.9.9", false}, {ecstypes.LaunchTypeEc2, "1.4.0", false},
		{ecstypes.LaunchTypeEc2, "", true},
	} {
		if err := checkPlatform(tc.lt, tc.version); (err == nil) != tc.ok {
			t.Errorf("checkPlatform(%s, %q) = %v", tc.lt, tc.version, err)
		}
	}
	for _, tc := range []struct {
		cpu, mem string
		ok       bool
	}{{"256", "512", true}, {"256", "4096", false}, {"1 vCPU", "2 GB", true}, {"4096", "30720", true}, {"300", "512", false}} {
		if err := checkFargateSize(tc.cpu, tc.mem); (err == nil) != tc.ok {
			t.Errorf("checkFargateSize(%s, %s) = %v", tc.cpu, tc.mem, err)
		}
	}
}
