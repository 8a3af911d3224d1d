package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/minato-project/minato/internal/testutil/testimage"
)

// volumesFrom works whichever container the task definition lists first:
// on Docker, the container that mounts from "data" sees what "data"
// writes into its volume, when "data" comes before it and when it comes
// after (ECS's implicit dependency; before the fix the second order failed
// with "container "data" of the task has no engine container").
func TestVolumesFromEitherOrder(t *testing.T) {
	t.Parallel()
	n := startDockerNode(t)
	image := testimage.Build(t, "")
	ctx := context.Background()
	data := types.ContainerDefinition{Name: aws.String("data"), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(false),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		MountPoints:  []types.MountPoint{{SourceVolume: aws.String("shared"), ContainerPath: aws.String("/shared")}}}
	app := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(32),
		PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}},
		VolumesFrom:  []types.VolumeFrom{{SourceContainer: aws.String("data"), ReadOnly: aws.Bool(true)}}}
	for _, tc := range []struct {
		family string
		defs   []types.ContainerDefinition
	}{
		{"volumes-source-first", []types.ContainerDefinition{data, app}},
		{"volumes-source-after", []types.ContainerDefinition{app, data}},
	} {
		if _, err := n.ecs().RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(tc.family),
			ContainerDefinitions: tc.defs, Volumes: []types.Volume{{Name: aws.String("shared")}}}); err != nil {
			t.Fatal(err)
		}
		out, err := n.ecs().RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String(tc.family)})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("%s: RunTask: %v %+v", tc.family, err, out)
		}
		task := waitTaskStatus(t, n, aws.ToString(out.Tasks[0].TaskArn), "RUNNING", 90*time.Second)
		port := map[string]int32{}
		for _, c := range task.Containers {
			if len(c.NetworkBindings) != 1 {
				t.Fatalf("%s: container %s bindings %+v", tc.family, aws.ToString(c.Name), c.NetworkBindings)
			}
			port[aws.ToString(c.Name)] = aws.ToInt32(c.NetworkBindings[0].HostPort)
		}
		// RUNNING is the containers started, not the apps in them
		// listening yet.
		for _, hp := range port {
			getOK(t, fmt.Sprintf("http://127.0.0.1:%d/", hp))
		}
		want := "written by data in " + tc.family
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/file?path=/shared/note", port["data"]), "text/plain", strings.NewReader(want))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: write through data: %v %v", tc.family, resp, err)
		}
		resp.Body.Close()
		resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/file?path=/shared/note", port["app"]))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("%s: app reads %d %q through volumesFrom, want %q", tc.family, resp.StatusCode, got, want)
		}
	}
}
