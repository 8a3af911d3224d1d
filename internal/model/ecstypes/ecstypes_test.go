package ecstypes

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/model/shape"
)

// registerTaskDefinition is what `aws ecs register-task-definition
// --cli-input-json` sends for a typical Fargate web app with a sidecar.
const registerTaskDefinition = `{
  "family": "web",
  "taskRoleArn": "arn:aws:iam::123456789012:role/web-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "512",
  "memory": "1024",
  "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "containerDefinitions": [
    {
      "name": "app",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.4.2",
      "cpu": 384,
      "memoryReservation": 512,
      "essential": true,
      "portMappings": [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}
      ],
      "environment": [{"name": "PORT", "value": "8080"}, {"name": "LOG_LEVEL", "value": "info"}],
      "secrets": [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
        {"name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/web/api-key"}
      ],
      "entryPoint": [],
      "command": ["serve", "--port", "8080"],
      "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
      "healthCheck": {
        "command": ["CMD-SHELL", "curl -fsS http://localhost:8080/health || exit 1"],
        "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 0
      },
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app"},
        "secretOptions": [{"name": "token", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/log-token"}]
      },
      "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
      "readonlyRootFilesystem": false,
      "stopTimeout": 30,
      "dockerLabels": {"com.example.team": "web"}
    },
    {
      "name": "envoy",
      "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",
      "cpu": 0,
      "essential": false,
      "user": "1337",
      "healthCheck": {
        "command": ["CMD-SHELL", "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"],
        "interval": 5, "timeout": 2, "retries": 3, "startPeriod": 10
      }
    }
  ],
  "volumes": [{"name": "scratch"}],
  "ephemeralStorage": {"sizeInGiB": 30},
  "tags": [{"key": "env", "value": "prod"}]
}`

func decode(t *testing.T, s string) *RegisterTaskDefinitionRequest {
	t.Helper()
	var req RegisterTaskDefinitionRequest
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields() // every field of the request must have a home
	if err := dec.Decode(&req); err != nil {
		t.Fatal(err)
	}
	return &req
}

func generic(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRegisterTaskDefinitionRoundTrip(t *testing.T) {
	req := decode(t, registerTaskDefinition)
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := generic(t, out), generic(t, []byte(registerTaskDefinition)); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip changed the request:\n got %s", out)
	}

	app, envoy := req.ContainerDefinitions[0], req.ContainerDefinitions[1]
	if envoy.Essential == nil || *envoy.Essential {
		t.Errorf("envoy essential = %v, want explicit false", envoy.Essential)
	}
	if app.ReadonlyRootFilesystem == nil || *app.ReadonlyRootFilesystem {
		t.Errorf("readonlyRootFilesystem lost its explicit false")
	}
	if envoy.Memory != nil || envoy.PortMappings != nil || envoy.LogConfiguration != nil {
		t.Errorf("absent members decoded as present: %+v", envoy)
	}
	if app.EntryPoint == nil || len(app.EntryPoint) != 0 {
		t.Errorf("entryPoint = %#v, want empty non-nil", app.EntryPoint)
	}
	if pm := app.PortMappings[0]; *pm.ContainerPort != 8080 || pm.Protocol != TransportProtocolTcp || pm.AppProtocol != ApplicationProtocolHttp {
		t.Errorf("port mapping = %+v", pm)
	}
	if app.DependsOn[0].Condition != ContainerConditionHealthy || *app.HealthCheck.StartPeriod != 0 {
		t.Errorf("dependsOn/healthCheck = %+v %+v", app.DependsOn, app.HealthCheck)
	}
	if req.NetworkMode != NetworkModeAwsvpc || req.RequiresCompatibilities[0] != CompatibilityFargate || req.EphemeralStorage.SizeInGiB != 30 {
		t.Errorf("task-level fields = %+v", req)
	}
	if err := req.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// Unboxed integers are always written, as AWS does: an absent cpu comes
	// back as 0.
	one := decode(t, `{"family":"f","containerDefinitions":[{"name":"a","image":"i"}]}`)
	b, _ := json.Marshal(one)
	if string(b) != `{"family":"f","containerDefinitions":[{"name":"a","image":"i","cpu":0}]}` {
		t.Errorf("minimal request marshals as %s", b)
	}

	// Strings are values: an explicit "" cannot be told from absent and is
	// not written back (real ECS drops empty-valued environment entries too).
	env := decode(t, `{"family":"f","containerDefinitions":[{"name":"a","image":"i","cpu":1,"environment":[{"name":"E","value":""}]}]}`)
	b, _ = json.Marshal(env.ContainerDefinitions[0].Environment)
	if string(b) != `[{"name":"E"}]` {
		t.Errorf("empty env value marshals as %s", b)
	}
}

func TestRegisterTaskDefinitionValidate(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, path string
	}{
		{"missing container name", `"name": "app",`, ``, "containerDefinitions[0].name"},
		{"missing image", `"image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",`, ``, "containerDefinitions[1].image"},
		{"bad networkMode", `"networkMode": "awsvpc"`, `"networkMode": "overlay"`, "networkMode"},
		{"missing family", `"family": "web",`, ``, "family"},
		{"bad compatibility", `["FARGATE"]`, `["FARGATE", "LAMBDA"]`, "requiresCompatibilities[1]"},
		{"bad nested enum", `"protocol": "tcp"`, `"protocol": "sctp"`, "containerDefinitions[0].portMappings[0].protocol"},
		{"bad dependsOn", `"condition": "HEALTHY"`, `"condition": "READY"`, "containerDefinitions[0].dependsOn[0].condition"},
		{"missing log driver", `"logDriver": "awslogs",`, ``, "containerDefinitions[0].logConfiguration.logDriver"},
		{"missing secret valueFrom", `"valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/web/api-key"`, `"name2": "x"`, "containerDefinitions[0].secrets[1].valueFrom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(registerTaskDefinition, tc.from) {
				t.Fatalf("fixture lacks %q", tc.from)
			}
			src := strings.Replace(registerTaskDefinition, tc.from, tc.to, 1)
			var req RegisterTaskDefinitionRequest
			if err := json.Unmarshal([]byte(src), &req); err != nil {
				t.Fatal(err)
			}
			var ve *shape.ValidationError
			if err := req.Validate(); !errors.As(err, &ve) || ve.Path != tc.path {
				t.Fatalf("Validate() = %v, want a problem at %s", err, tc.path)
			}
		})
	}
	var empty RegisterTaskDefinitionRequest
	if err := empty.Validate(); err == nil || err.Error() != "family: is required" {
		t.Errorf("empty request: %v", err)
	}
	if err := (*RegisterTaskDefinitionRequest)(nil).Validate(); err != nil {
		t.Errorf("nil request: %v", err)
	}
}

func TestMetadataAndOperations(t *testing.T) {
	if TargetPrefix != "AmazonEC2ContainerServiceV20141113" || SigningName != "ecs" || Protocol != "json" || APIVersion != "2014-11-13" {
		t.Errorf("metadata: %s %s %s %s", TargetPrefix, SigningName, Protocol, APIVersion)
	}
	op := Operations["ListClusters"]
	if op.Input != "ListClustersRequest" || op.Output != "ListClustersResponse" || !op.Paginated() ||
		op.InputToken != "nextToken" || op.OutputToken != "nextToken" || op.LimitKey != "maxResults" {
		t.Errorf("ListClusters = %+v", op)
	}
	if op := Operations["RegisterTaskDefinition"]; op.Paginated() || len(op.Errors) == 0 {
		t.Errorf("RegisterTaskDefinition = %+v", op)
	}
	for name, op := range Operations {
		for _, e := range op.Errors {
			if _, ok := Errors[e]; !ok {
				t.Errorf("%s: error %s not in Errors", name, e)
			}
		}
	}
	if e := Errors[ErrCodeServerException]; !e.Fault || e.HTTPStatusCode != 500 {
		t.Errorf("ServerException = %+v", e)
	}
	if e := Errors[ErrCodeClusterNotFoundException]; e.Fault || e.HTTPStatusCode != 400 || e.Code != "ClusterNotFoundException" {
		t.Errorf("ClusterNotFoundException = %+v", e)
	}
}

// TestAgainstSDK has the real AWS SDK for Go v2 talk to a server that speaks
// through the generated types: what the SDK sends must decode, and what the
// types encode must be what the SDK reads.
func TestAgainstSDK(t *testing.T) {
	registered := time.Date(2024, 5, 6, 7, 8, 9, 250_000_000, time.UTC)
	var got RegisterTaskDefinitionRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tgt := r.Header.Get("X-Amz-Target"); tgt != TargetPrefix+".RegisterTaskDefinition" {
			http.Error(w, "bad target "+tgt, http.StatusBadRequest)
			return
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp := RegisterTaskDefinitionResponse{
			TaskDefinition: &TaskDefinition{
				TaskDefinitionArn:    "arn:aws:ecs:us-east-1:123456789012:task-definition/" + got.Family + ":1",
				Family:               got.Family,
				Revision:             1,
				Status:               TaskDefinitionStatusActive,
				NetworkMode:          got.NetworkMode,
				ContainerDefinitions: got.ContainerDefinitions,
				RegisteredAt:         shape.NewTimestamp(registered),
			},
			Tags: []Tag{},
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	defer srv.Close()

	client := ecs.New(ecs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	out, err := client.RegisterTaskDefinition(context.Background(), &ecs.RegisterTaskDefinitionInput{
		Family:      aws.String("web"),
		NetworkMode: sdktypes.NetworkModeAwsvpc,
		ContainerDefinitions: []sdktypes.ContainerDefinition{{
			Name:         aws.String("app"),
			Image:        aws.String("nginx"),
			Essential:    aws.Bool(false),
			PortMappings: []sdktypes.PortMapping{{ContainerPort: aws.Int32(80), Protocol: sdktypes.TransportProtocolTcp}},
			HealthCheck:  &sdktypes.HealthCheck{Command: []string{"CMD", "true"}, Retries: aws.Int32(0)},
			Secrets:      []sdktypes.Secret{{Name: aws.String("S"), ValueFrom: aws.String("arn:x")}},
			DependsOn:    []sdktypes.ContainerDependency{{ContainerName: aws.String("b"), Condition: sdktypes.ContainerConditionStart}},
			LogConfiguration: &sdktypes.LogConfiguration{
				LogDriver: sdktypes.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "g"},
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("SDK request fails Validate: %v", err)
	}
	c := got.ContainerDefinitions[0]
	if c.Essential == nil || *c.Essential || *c.PortMappings[0].ContainerPort != 80 || c.HealthCheck.Retries == nil ||
		c.DependsOn[0].Condition != ContainerConditionStart || c.LogConfiguration.Options["awslogs-group"] != "g" {
		t.Errorf("server decoded %+v", c)
	}

	td := out.TaskDefinition
	if aws.ToString(td.Family) != "web" || td.Revision != 1 || td.Status != sdktypes.TaskDefinitionStatusActive ||
		td.NetworkMode != sdktypes.NetworkModeAwsvpc || !aws.ToTime(td.RegisteredAt).Equal(registered) {
		t.Errorf("SDK read %+v", td)
	}
	sc := td.ContainerDefinitions[0]
	if aws.ToBool(sc.Essential) || sc.Essential == nil || aws.ToInt32(sc.PortMappings[0].ContainerPort) != 80 ||
		sc.PortMappings[0].HostPort != nil || len(sc.Secrets) != 1 || sc.HealthCheck.Retries == nil {
		t.Errorf("SDK read container %+v", sc)
	}
}
