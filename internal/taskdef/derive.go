package taskdef

import (
	"slices"
	"strings"

	"github.com/minato-project/minato/internal/model/ecstypes"
)

// checkDependencies checks dependsOn: every target exists and is another
// container, HEALTHY needs a health check on the target, COMPLETE and
// SUCCESS cannot wait on an essential container, and there is no cycle.
func checkDependencies(cs []ecstypes.ContainerDefinition, byName map[string]*ecstypes.ContainerDefinition) error {
	for _, c := range cs {
		for _, d := range c.DependsOn {
			t := byName[d.ContainerName]
			if t == nil || d.ContainerName == c.Name {
				return clientErr("Container %q depends on %q, which is not another container of this task definition.", c.Name, d.ContainerName)
			}
			switch d.Condition {
			case ecstypes.ContainerConditionHealthy:
				if t.HealthCheck == nil {
					return clientErr("Container %q depends on %q being HEALTHY, but %q has no healthCheck.", c.Name, d.ContainerName, d.ContainerName)
				}
			case ecstypes.ContainerConditionComplete, ecstypes.ContainerConditionSuccess:
				if t.Essential == nil || *t.Essential {
					return clientErr("Container %q depends on %q with condition %s, which cannot be set on an essential container.", c.Name, d.ContainerName, d.Condition)
				}
			}
		}
	}
	if cyc := StartOrderCycle(cs); cyc != nil {
		return clientErr("The dependsOn settings form a cycle: %s.", strings.Join(cyc, " -> "))
	}
	return nil
}

// StartOrderCycle returns a dependency cycle among the containers, as the
// list of names around it, or nil when there is none.
func StartOrderCycle(cs []ecstypes.ContainerDefinition) []string {
	deps := make(map[string][]string, len(cs))
	for _, c := range cs {
		for _, d := range c.DependsOn {
			deps[c.Name] = append(deps[c.Name], d.ContainerName)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range deps[n] {
			switch color[m] {
			case grey:
				i := slices.Index(stack, m)
				cycle = append(slices.Clone(stack[i:]), m)
				return true
			case white:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, c := range cs {
		if color[c.Name] == white && visit(c.Name) {
			return cycle
		}
	}
	return nil
}

// compatibilities derives the launch types the definition can run on, in
// the order ECS reports them.
func (b *builder) compatibilities() []ecstypes.Compatibility {
	var out []ecstypes.Compatibility
	if b.mode != ecstypes.NetworkModeAwsvpc {
		out = append(out, ecstypes.CompatibilityExternal)
	}
	out = append(out, ecstypes.CompatibilityEc2)
	if b.fargateCompatible() {
		out = append(out, ecstypes.CompatibilityFargate)
	}
	return out
}

// fargateCompatible reports whether the definition would also pass
// Fargate's checks, whether or not it asked for them.
func (b *builder) fargateCompatible() bool {
	if b.mode != ecstypes.NetworkModeAwsvpc || !FargateSupports(b.taskCPU, b.taskMem) {
		return false
	}
	if b.in.IpcMode != "" || (b.in.PidMode != "" && b.in.PidMode != ecstypes.PidModeTask) {
		return false
	}
	for _, v := range b.in.Volumes {
		if v.Host != nil && v.Host.SourcePath != "" {
			return false
		}
	}
	for _, c := range b.in.ContainerDefinitions {
		if c.Privileged != nil && *c.Privileged {
			return false
		}
		if c.LinuxParameters != nil && len(c.LinuxParameters.Devices) > 0 {
			return false
		}
	}
	return true
}

// requiredAttributes derives the container-instance capabilities a task of
// this definition needs, named as the ECS agent advertises them.
func requiredAttributes(td *ecstypes.TaskDefinition) []ecstypes.Attribute {
	set := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			set[n] = true
		}
	}
	add("com.amazonaws.ecs.capability.docker-remote-api.1.18")
	if td.TaskRoleArn != "" {
		add("com.amazonaws.ecs.capability.task-iam-role")
	}
	if td.NetworkMode == ecstypes.NetworkModeAwsvpc {
		add("ecs.capability.task-eni")
	}
	for _, c := range td.ContainerDefinitions {
		if lc := c.LogConfiguration; lc != nil {
			add("com.amazonaws.ecs.capability.logging-driver."+string(lc.LogDriver), "com.amazonaws.ecs.capability.docker-remote-api.1.19")
			if lc.LogDriver == ecstypes.LogDriverAwslogs && td.ExecutionRoleArn != "" {
				add("ecs.capability.execution-role-awslogs")
			}
		}
		if c.HealthCheck != nil {
			add("ecs.capability.container-health-check", "com.amazonaws.ecs.capability.docker-remote-api.1.24")
		}
		if len(c.DependsOn) > 0 {
			add("ecs.capability.container-ordering")
		}
		for _, s := range c.Secrets {
			if strings.Contains(s.ValueFrom, ":ssm:") || !strings.HasPrefix(s.ValueFrom, "arn:") {
				add("ecs.capability.secrets.ssm.environment-variables")
			} else {
				add("ecs.capability.secrets.asm.environment-variables")
			}
		}
		if strings.Contains(c.Image, ".dkr.ecr.") {
			add("com.amazonaws.ecs.capability.ecr-auth")
			if td.ExecutionRoleArn != "" {
				add("ecs.capability.execution-role-ecr-pull")
			}
		}
		if c.RepositoryCredentials != nil {
			add("com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager")
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]ecstypes.Attribute, len(names))
	for i, n := range names {
		out[i] = ecstypes.Attribute{Name: n}
	}
	return out
}
