package elbv2

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/lb"
)

// attrSpec is one attribute a resource has: its default and the check of
// a new value (nil accepts any string).
type attrSpec struct {
	def   string
	check func(v string) bool
	// want describes the values check accepts, for the error message.
	want string
}

func boolAttr(def string) attrSpec {
	return attrSpec{def: def, check: func(v string) bool { return v == "true" || v == "false" }, want: "true or false"}
}

func intAttr(def string, lo, hi int) attrSpec {
	return attrSpec{def: def, check: func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= lo && n <= hi
	}, want: "an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
}

func enumAttr(def string, values ...string) attrSpec {
	return attrSpec{def: def, check: func(v string) bool { return slices.Contains(values, v) },
		want: "one of " + strings.Join(values, ", ")}
}

func stringAttr(def string) attrSpec { return attrSpec{def: def} }

// Load balancer attributes of an application load balancer, with ALB's
// defaults. minato's proxy uses idle_timeout.timeout_seconds and
// deletion_protection.enabled; the others are kept and reported.
var lbAttributes = map[string]attrSpec{
	"access_logs.s3.enabled":                                       boolAttr("false"),
	"access_logs.s3.bucket":                                        stringAttr(""),
	"access_logs.s3.prefix":                                        stringAttr(""),
	"client_keep_alive.seconds":                                    intAttr("3600", 60, 604800),
	"connection_logs.s3.enabled":                                   boolAttr("false"),
	"connection_logs.s3.bucket":                                    stringAttr(""),
	"connection_logs.s3.prefix":                                    stringAttr(""),
	"deletion_protection.enabled":                                  boolAttr("false"),
	"idle_timeout.timeout_seconds":                                 intAttr("60", 1, 4000),
	"load_balancing.cross_zone.enabled":                            enumAttr("true", "true"),
	"routing.http.desync_mitigation_mode":                          enumAttr("defensive", "monitor", "defensive", "strictest"),
	"routing.http.drop_invalid_header_fields.enabled":              boolAttr("false"),
	"routing.http.preserve_host_header.enabled":                    boolAttr("false"),
	"routing.http.x_amzn_tls_version_and_cipher_suite.enabled":     boolAttr("false"),
	"routing.http.xff_client_port.enabled":                         boolAttr("false"),
	"routing.http.xff_header_processing.mode":                      enumAttr("append", "append", "preserve", "remove"),
	"routing.http2.enabled":                                        boolAttr("true"),
	"waf.fail_open.enabled":                                        boolAttr("false"),
	"zonal_shift.config.enabled":                                   boolAttr("false"),
	"health_check_logs.s3.enabled":                                 boolAttr("false"),
	"health_check_logs.s3.bucket":                                  stringAttr(""),
	"health_check_logs.s3.prefix":                                  stringAttr(""),
	"routing.http.response.server.enabled":                         boolAttr("true"),
	"routing.http.response.strict_transport_security.header_value": stringAttr(""),
}

// Target group attributes of an HTTP target group of an application load
// balancer, with ALB's defaults. The values minato's proxy cannot honour
// (app_cookie stickiness, weighted_random) are refused rather than kept
// and ignored.
var tgAttributes = map[string]attrSpec{
	"deregistration_delay.timeout_seconds":                                           intAttr("300", 0, 3600),
	"load_balancing.algorithm.type":                                                  enumAttr(lb.AlgorithmRoundRobin, lb.AlgorithmRoundRobin, lb.AlgorithmLeastOutstanding),
	"load_balancing.algorithm.anomaly_mitigation":                                    enumAttr("off", "off"),
	"load_balancing.cross_zone.enabled":                                              enumAttr("use_load_balancer_configuration", "use_load_balancer_configuration", "true", "false"),
	"slow_start.duration_seconds":                                                    {def: "0", check: slowStartOK, want: "0 or an integer from 30 to 900"},
	"stickiness.enabled":                                                             boolAttr("false"),
	"stickiness.type":                                                                enumAttr(lb.StickinessTypeLBCookie, lb.StickinessTypeLBCookie),
	"stickiness.lb_cookie.duration_seconds":                                          intAttr("86400", 1, 604800),
	"stickiness.app_cookie.cookie_name":                                              stringAttr(""),
	"stickiness.app_cookie.duration_seconds":                                         intAttr("86400", 1, 604800),
	"target_group_health.dns_failover.minimum_healthy_targets.count":                 {def: "1", check: minHealthyCountOK, want: "off or an integer of at least 1"},
	"target_group_health.dns_failover.minimum_healthy_targets.percentage":            {def: "off", check: percentOK, want: "off or an integer from 1 to 100"},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      {def: "1", check: minHealthyCountOK, want: "an integer of at least 1"},
	"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": {def: "off", check: percentOK, want: "off or an integer from 1 to 100"},
}

func slowStartOK(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && (n == 0 || (n >= 30 && n <= 900))
}

func minHealthyCountOK(v string) bool {
	if v == "off" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 1
}

func percentOK(v string) bool {
	if v == "off" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 1 && n <= 100
}

// defaultAttributes returns every attribute of specs at its default.
func defaultAttributes(specs map[string]attrSpec) map[string]string {
	out := make(map[string]string, len(specs))
	for k, s := range specs {
		out[k] = s.def
	}
	return out
}

// applyAttributes returns cur with the changes applied, or the
// ValidationError of the first bad key or value. what names the resource
// kind in messages ("Load balancer", "Target group").
func applyAttributes(specs map[string]attrSpec, cur map[string]string, keys, vals []string, what string) (map[string]string, error) {
	if len(keys) == 0 {
		return nil, validationErr("Attributes must contain at least one attribute")
	}
	next := defaultAttributes(specs)
	maps.Copy(next, cur)
	for i, k := range keys {
		spec, ok := specs[k]
		if !ok {
			return nil, validationErr("%s attribute key '%s' is not recognized", what, k)
		}
		v := vals[i]
		if spec.check != nil && !spec.check(v) {
			return nil, validationErr("%s attribute '%s' value '%s' is not valid: it must be %s", what, k, v, spec.want)
		}
		next[k] = v
	}
	return next, nil
}

// sortedKeys returns the attribute names of m in order.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// attrInt reads an integer attribute, falling back to the spec's default.
func attrInt(m map[string]string, specs map[string]attrSpec, key string) int {
	if n, err := strconv.Atoi(m[key]); err == nil {
		return n
	}
	n, _ := strconv.Atoi(specs[key].def)
	return n
}
