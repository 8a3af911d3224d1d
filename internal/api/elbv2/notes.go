package elbv2

// Notes says, per implemented operation, what minato does differently
// from ELBv2, for the compatibility matrix (docs/compatibility.md).
var Notes = map[string]string{
	"CreateLoadBalancer": "Application load balancers only (`network`, `gateway`: InvalidConfigurationRequest), IPv4. " +
		"Every load balancer listens on `--lb-addr`; DNSName is that address (`localhost` for 127.0.0.1). " +
		"Subnets and security groups are recorded, not enforced.",
	"DeleteLoadBalancer":             "Deletes its listeners and rules; refused while deletion protection is enabled.",
	"DescribeLoadBalancerAttributes": "ALB's attributes with their defaults.",
	"ModifyLoadBalancerAttributes":   "Values are checked as ALB does; `deletion_protection.enabled` is enforced, the others are recorded.",
	"CreateTargetGroup":              "HTTP target groups of `instance` or `ip` targets, HTTP/1.1 health checks. Instance targets are container instances (their EC2 instance ID).",
	"ModifyTargetGroupAttributes": "`deregistration_delay.timeout_seconds`, `load_balancing.algorithm.type` (round_robin, least_outstanding_requests) " +
		"and `stickiness.*` (lb_cookie) are served. `slow_start.duration_seconds` is checked and stored but not applied: " +
		"a new target gets its full share at once. Other values are refused.",
	"DeleteTargetGroup": "ResourceInUse while a listener or rule forwards to it.",
	"RegisterTargets":   "Instance IDs must be container instances' EC2 instance IDs; IPs must be IPv4.",
	"DeregisterTargets": "Targets drain until nothing is in flight or the deregistration delay has passed.",
	"CreateListener": "HTTP only (others: UnsupportedProtocol). All load balancers share one address, so a port serves one load balancer: " +
		"DuplicateListener across load balancers too. Actions: forward (weighted, group stickiness), fixed-response, redirect.",
	"CreateRule": "Conditions path-pattern, host-header, http-header, http-request-method, query-string, source-ip (no RegexValues); no transforms.",
}
