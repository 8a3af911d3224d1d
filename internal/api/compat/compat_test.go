package compat

import (
	"flag"
	autoscalingapi "github.com/minato-project/minato/internal/api/autoscaling"
	cloudwatchapi "github.com/minato-project/minato/internal/api/cloudwatch"
	"github.com/minato-project/minato/internal/model/autoscalingtypes"
	"github.com/minato-project/minato/internal/model/cloudwatchtypes"
	"maps"
	"os"
	"slices"
	"testing"

	ecrapi "github.com/minato-project/minato/internal/api/ecr"
	ecsapi "github.com/minato-project/minato/internal/api/ecs"
	elbv2api "github.com/minato-project/minato/internal/api/elbv2"
	eventsapi "github.com/minato-project/minato/internal/api/events"
	logsapi "github.com/minato-project/minato/internal/api/logs"
	smapi "github.com/minato-project/minato/internal/api/secretsmanager"
	ssmapi "github.com/minato-project/minato/internal/api/ssm"
	stsapi "github.com/minato-project/minato/internal/api/sts"
	"github.com/minato-project/minato/internal/model/ecrtypes"
	"github.com/minato-project/minato/internal/model/ecstypes"
	"github.com/minato-project/minato/internal/model/elbv2types"
	"github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/model/logstypes"
	"github.com/minato-project/minato/internal/model/secretsmanagertypes"
	"github.com/minato-project/minato/internal/model/ssmtypes"
	"github.com/minato-project/minato/internal/model/ststypes"
)

var update = flag.Bool("update", false, "rewrite docs/compatibility.md from the code")

const docPath = "../../../docs/compatibility.md"

func services() []Service {
	ecs := ecsapi.New(ecsapi.Config{})
	sts := stsapi.Service()
	elb := elbv2api.New(elbv2api.Config{})
	return []Service{
		{Name: "Amazon ECS", CLI: "ecs", Model: ecstypes.Operations, Implemented: ecs.Implemented(), Notes: ecsapi.Notes},
		{Name: "AWS STS", CLI: "sts", Model: ststypes.Operations, Implemented: slices.Collect(maps.Keys(sts.Actions)),
			Notes: map[string]string{"GetCallerIdentity": "The account and principal of the signing key."}},
		{Name: "Elastic Load Balancing v2", CLI: "elbv2", Model: elbv2types.Operations, Implemented: elb.Implemented(), Notes: elbv2api.Notes},
		{Name: "Amazon CloudWatch Logs", CLI: "logs", Model: logstypes.Operations,
			Implemented: logsapi.New(logsapi.Config{}).Implemented(), Notes: logsapi.Notes},
		{Name: "AWS Secrets Manager", CLI: "secretsmanager", Model: secretsmanagertypes.Operations,
			Implemented: smapi.New(smapi.Config{}).Implemented(), Notes: smapi.Notes},
		{Name: "AWS Systems Manager Parameter Store", CLI: "ssm", Model: ssmtypes.Operations,
			Implemented: ssmapi.New(ssmapi.Config{}).Implemented(), Notes: ssmapi.Notes},
		{Name: "Amazon ECR", CLI: "ecr", Model: ecrtypes.Operations,
			Implemented: ecrapi.New(ecrapi.Config{}).Implemented(), Notes: ecrapi.Notes},
		{Name: "Amazon CloudWatch", CLI: "cloudwatch", Model: cloudwatchtypes.Operations,
			Implemented: cloudwatchapi.New(cloudwatchapi.Config{}).Implemented(), Notes: cloudwatchapi.Notes},
		{Name: "Application Auto Scaling", CLI: "application-autoscaling", Model: autoscalingtypes.Operations,
			Implemented: autoscalingapi.New(autoscalingapi.Config{}).Implemented(), Notes: autoscalingapi.Notes},
		{Name: "Amazon EventBridge", CLI: "events", Model: eventstypes.Operations,
			Implemented: eventsapi.New(eventsapi.Config{}).Implemented(), Notes: eventsapi.Notes},
	}
}

func TestCompatibilityDocIsCurrent(t *testing.T) {
	for _, s := range services() {
		if u := Unknown(s); len(u) > 0 {
			t.Errorf("%s serves operations that are not in its AWS model: %v", s.Name, u)
		}
		for op := range s.Notes {
			if !slices.Contains(s.Implemented, op) {
				t.Errorf("%s has notes for %s, which it does not serve", s.Name, op)
			}
		}
	}
	got := Render(services())
	if *update {
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatal("docs/compatibility.md is out of date: run go test ./internal/api/compat -update")
	}
}
