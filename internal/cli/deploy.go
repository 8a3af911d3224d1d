package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"golang.org/x/term"
)

// Exit codes of `minato deploy` besides 0 (COMPLETED) and 2 (usage).
const (
	exitDeployFailed  = 1 // FAILED, rolled back, or replaced by another deployment
	exitDeployTimeout = 3 // still in progress when --timeout ran out
)

// runDeploy is `minato deploy SERVICE`.
func runDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("deploy", stderr)
	var cf connectFlags
	cf.register(fs)
	var out outputFlag
	out.register(fs)
	cluster := fs.String("cluster", "default", "the service's cluster")
	image := fs.String("image", "", "register a revision of the service's task definition with this image, and deploy it")
	container := fs.String("container", "", "with --image: the container whose image changes (required when the task definition has more than one)")
	taskDef := fs.String("task-definition", "", "deploy this task definition (FAMILY, FAMILY:REVISION or ARN) instead of --image")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up waiting (exit 3) after this long; the deployment goes on")
	poll := fs.Duration("poll", time.Second, "how often to look at the deployment")
	count := fs.Int("count", 1, "with --image, for a service that does not exist yet: how many tasks it runs")
	port := fs.Int("port", 0, "with --image, for a service that does not exist yet: the container port to publish (on a host port Docker picks)")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flagErrHelp) {
			return err
		}
		return errUsage
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 || (*image == "") == (*taskDef == "") || (*container != "" && *image == "") {
		fmt.Fprintln(stderr, "usage: minato deploy SERVICE (--image IMAGE [--container NAME] [--count N --port P] | --task-definition FAMILY[:REVISION]) [flags]")
		return errUsage
	}
	if err := out.check(); err != nil {
		return err
	}
	cfg, err := cf.resolve(getenv)
	if err != nil {
		return err
	}
	c := cfg.ecs()
	svcs, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{name}})
	if err != nil {
		return err
	}
	exists := len(svcs.Services) > 0 && aws.ToString(svcs.Services[0].Status) != "INACTIVE"
	if !exists && *image == "" {
		return fmt.Errorf("service %s not found in cluster %s (give --image to create it)", name, *cluster)
	}
	if exists && (*count != 1 || *port != 0) {
		fmt.Fprintln(stderr, "--count and --port are for a service that does not exist yet; change a service's count with aws ecs update-service or the console")
		return errUsage
	}
	if *count < 0 || *port < 0 || *port > 65535 {
		fmt.Fprintln(stderr, "--count must be 0 or more and --port a port number")
		return errUsage
	}
	var svc ecstypes.Service
	if exists {
		svc = svcs.Services[0]
	}
	p := newProgress(stdout, out.json(), isTerminal(stdout))
	start := time.Now()
	var after *ecstypes.Service
	if exists {
		target := *taskDef
		if *image != "" {
			arn, err := registerWithImage(ctx, c, aws.ToString(svc.TaskDefinition), *container, *image)
			if err != nil {
				return err
			}
			target = arn
			p.step("registered task definition " + lastPart(arn) + " with image " + *image)
		}
		up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: cluster, Service: &name, TaskDefinition: &target})
		if err != nil {
			return err
		}
		after = up.Service
	} else {
		arn, err := registerNew(ctx, c, newServiceSpec{name: name, container: *container, image: *image, port: *port, region: cfg.region})
		if err != nil {
			return err
		}
		p.step("registered task definition " + lastPart(arn) + " with image " + *image)
		created, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: cluster, ServiceName: &name, TaskDefinition: &arn,
			DesiredCount: aws.Int32(int32(*count))})
		if err != nil {
			return err
		}
		after = created.Service
	}
	var depID string
	for _, d := range after.Deployments {
		if aws.ToString(d.Status) == "PRIMARY" {
			depID = aws.ToString(d.Id)
		}
	}
	verb := "updated"
	if !exists {
		verb = "created"
	}
	p.step(fmt.Sprintf("%s service %s: deployment %s of %s", verb, name, depID, lastPart(aws.ToString(after.TaskDefinition))))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// The events the service had before the update are not this
	// deployment's.
	seen := map[string]bool{}
	for _, e := range svc.Events {
		seen[aws.ToString(e.Id)] = true
	}
	var events []deployEvent
	for {
		svcs, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: cluster, Services: []string{name}})
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && len(svcs.Services) > 0 {
			s := svcs.Services[0]
			// Events come newest first; keep the new ones, oldest first.
			for i := len(s.Events) - 1; i >= 0; i-- {
				e := s.Events[i]
				if id := aws.ToString(e.Id); !seen[id] {
					seen[id] = true
					events = append(events, deployEvent{At: aws.ToTime(e.CreatedAt), Message: aws.ToString(e.Message)})
				}
			}
			st := deployStateOf(s, depID, start, events)
			o := st.outcome()
			p.show(st, time.Now(), o)
			if o.done {
				if !o.ok {
					return &exitCodeError{exitDeployFailed}
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				p.final(fmt.Sprintf("still in progress after %s; the deployment goes on (minato status)", *timeout))
				return &exitCodeError{exitDeployTimeout}
			}
			p.final("interrupted; the deployment goes on (minato status)")
			return &exitCodeError{130}
		case <-time.After(*poll):
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// registerWithImage registers a revision of the task definition current
// with the image of one container changed, and returns its ARN.
func registerWithImage(ctx context.Context, c *ecs.Client, current, container, image string) (string, error) {
	out, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &current,
		Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
	if err != nil {
		return "", err
	}
	td := out.TaskDefinition
	defs := slices.Clone(td.ContainerDefinitions)
	i := -1
	switch {
	case container != "":
		i = slices.IndexFunc(defs, func(d ecstypes.ContainerDefinition) bool { return aws.ToString(d.Name) == container })
		if i < 0 {
			return "", fmt.Errorf("task definition %s has no container %q", lastPart(current), container)
		}
	case len(defs) == 1:
		i = 0
	default:
		var names []string
		for _, d := range defs {
			names = append(names, aws.ToString(d.Name))
		}
		return "", fmt.Errorf("task definition %s has %d containers (%s): say which with --container", lastPart(current), len(defs), strings.Join(names, ", "))
	}
	defs[i].Image = &image
	in := &ecs.RegisterTaskDefinitionInput{Family: td.Family, ContainerDefinitions: defs, Cpu: td.Cpu, Memory: td.Memory,
		NetworkMode: td.NetworkMode, TaskRoleArn: td.TaskRoleArn, ExecutionRoleArn: td.ExecutionRoleArn, Volumes: td.Volumes,
		PlacementConstraints: td.PlacementConstraints, RequiresCompatibilities: td.RequiresCompatibilities,
		RuntimePlatform: td.RuntimePlatform, PidMode: td.PidMode, IpcMode: td.IpcMode, ProxyConfiguration: td.ProxyConfiguration,
		EphemeralStorage: td.EphemeralStorage, EnableFaultInjection: td.EnableFaultInjection}
	if len(out.Tags) > 0 {
		in.Tags = out.Tags
	}
	reg, err := c.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(reg.TaskDefinition.TaskDefinitionArn), nil
}

// newServiceSpec is what `minato deploy --image` registers for a service
// that does not exist yet.
type newServiceSpec struct {
	name, container, image, region string
	port                           int
}

// taskDefinition is the first revision of the service's task definition:
// family and container named after the service, 128 MiB reserved, its
// logs in the log group /minato/SERVICE (made when missing) so that
// `minato logs SERVICE` reads them, and the port published on a host port
// Docker picks.
func (s newServiceSpec) taskDefinition() *ecs.RegisterTaskDefinitionInput {
	cname := s.container
	if cname == "" {
		cname = s.name
	}
	def := ecstypes.ContainerDefinition{Name: &cname, Image: aws.String(s.image), Essential: aws.Bool(true),
		MemoryReservation: aws.Int32(128),
		LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": "/minato/" + s.name, "awslogs-create-group": "true", "awslogs-region": s.region,
			"awslogs-stream-prefix": s.name}}}
	if s.port > 0 {
		def.PortMappings = []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(s.port)), HostPort: aws.Int32(0),
			Protocol: ecstypes.TransportProtocolTcp}}
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String(s.name), NetworkMode: ecstypes.NetworkModeBridge,
		ContainerDefinitions: []ecstypes.ContainerDefinition{def}}
}

// registerNew registers the first task definition of a new service and
// returns its ARN.
func registerNew(ctx context.Context, c *ecs.Client, s newServiceSpec) (string, error) {
	reg, err := c.RegisterTaskDefinition(ctx, s.taskDefinition())
	if err != nil {
		return "", err
	}
	return aws.ToString(reg.TaskDefinition.TaskDefinitionArn), nil
}
