package elbv2

import (
	"net/netip"
	"regexp"
	"slices"

	"github.com/minato-project/minato/internal/lb"
	"github.com/minato-project/minato/internal/model/elbv2types"
)

// maxConditionValues is ALB's limit of condition values per rule.
const maxConditionValues = 5

var (
	hostPatternRe = regexp.MustCompile(`^[A-Za-z0-9\-.*?]+$`)
	methodRe      = regexp.MustCompile(`^[A-Za-z_\-]+$`)
	headerNameRe  = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

// checkConditions validates a rule's conditions and returns them
// normalized: each with the *Config member of its field, and path-pattern
// and host-header also with Values, as ELBv2 describes them.
func checkConditions(in []elbv2types.RuleCondition) ([]elbv2types.RuleCondition, error) {
	if len(in) == 0 {
		return nil, validationErr("A rule must have at least one condition")
	}
	out := make([]elbv2types.RuleCondition, 0, len(in))
	once := map[string]bool{}
	total := 0
	for _, c := range in {
		if c.Field == "" {
			return nil, validationErr("A condition field must be specified")
		}
		if len(c.RegexValues) > 0 {
			return nil, validationErr("minato's load balancer does not support regular expression conditions (RegexValues)")
		}
		var n elbv2types.RuleCondition
		var values int
		var err error
		switch c.Field {
		case lb.FieldPathPattern:
			n, values, err = patternCondition(c, c.PathPatternConfig != nil, func(c elbv2types.RuleCondition) []string {
				if c.PathPatternConfig == nil {
					return nil
				}
				return c.PathPatternConfig.Values
			}, nil)
			n.PathPatternConfig = &elbv2types.PathPatternConditionConfig{Values: n.Values}
		case lb.FieldHostHeader:
			n, values, err = patternCondition(c, c.HostHeaderConfig != nil, func(c elbv2types.RuleCondition) []string {
				if c.HostHeaderConfig == nil {
					return nil
				}
				return c.HostHeaderConfig.Values
			}, hostPatternRe)
			n.HostHeaderConfig = &elbv2types.HostHeaderConditionConfig{Values: n.Values}
		case lb.FieldHTTPHeader:
			hc := c.HttpHeaderConfig
			if hc == nil || len(c.Values) > 0 {
				return nil, validationErr("An http-header condition must specify HttpHeaderConfig (and not Values)")
			}
			if !headerNameRe.MatchString(hc.HttpHeaderName) || len(hc.HttpHeaderName) > 40 {
				return nil, validationErr("HTTP header name '%s' is not valid", hc.HttpHeaderName)
			}
			if err := checkValues(hc.Values, nil); err != nil {
				return nil, err
			}
			n = elbv2types.RuleCondition{Field: c.Field, HttpHeaderConfig: &elbv2types.HttpHeaderConditionConfig{
				HttpHeaderName: hc.HttpHeaderName, Values: slices.Clone(hc.Values)}}
			values = len(hc.Values)
		case lb.FieldHTTPRequestMethod:
			mc := c.HttpRequestMethodConfig
			if mc == nil || len(c.Values) > 0 {
				return nil, validationErr("An http-request-method condition must specify HttpRequestMethodConfig (and not Values)")
			}
			for _, m := range mc.Values {
				if !methodRe.MatchString(m) || len(m) > 40 {
					return nil, validationErr("HTTP request method '%s' is not valid", m)
				}
			}
			if len(mc.Values) == 0 {
				return nil, validationErr("An http-request-method condition must have at least one value")
			}
			n = elbv2types.RuleCondition{Field: c.Field, HttpRequestMethodConfig: &elbv2types.HttpRequestMethodConditionConfig{Values: slices.Clone(mc.Values)}}
			values = len(mc.Values)
		case lb.FieldQueryString:
			qc := c.QueryStringConfig
			if qc == nil || len(c.Values) > 0 {
				return nil, validationErr("A query-string condition must specify QueryStringConfig (and not Values)")
			}
			if len(qc.Values) == 0 {
				return nil, validationErr("A query-string condition must have at least one key/value pair")
			}
			for _, kv := range qc.Values {
				if kv.Value == "" {
					return nil, validationErr("Every key/value pair of a query-string condition must have a value")
				}
				if len(kv.Key) > 128 || len(kv.Value) > 128 {
					return nil, validationErr("Query string keys and values cannot be longer than 128 characters")
				}
			}
			n = elbv2types.RuleCondition{Field: c.Field, QueryStringConfig: &elbv2types.QueryStringConditionConfig{Values: slices.Clone(qc.Values)}}
			values = len(qc.Values)
		case lb.FieldSourceIP:
			sc := c.SourceIpConfig
			if sc == nil || len(c.Values) > 0 {
				return nil, validationErr("A source-ip condition must specify SourceIpConfig (and not Values)")
			}
			if len(sc.Values) == 0 {
				return nil, validationErr("A source-ip condition must have at least one value")
			}
			for _, v := range sc.Values {
				if _, err := netip.ParsePrefix(v); err != nil {
					return nil, validationErr("Source IP '%s' must be a CIDR block such as 192.0.2.0/24", v)
				}
			}
			n = elbv2types.RuleCondition{Field: c.Field, SourceIpConfig: &elbv2types.SourceIpConditionConfig{Values: slices.Clone(sc.Values)}}
			values = len(sc.Values)
		default:
			return nil, validationErr("Condition field '%s' must be one of path-pattern, host-header, http-header, http-request-method, query-string, source-ip", c.Field)
		}
		if err != nil {
			return nil, err
		}
		switch c.Field {
		case lb.FieldPathPattern, lb.FieldHostHeader, lb.FieldHTTPRequestMethod, lb.FieldSourceIP:
			if once[c.Field] {
				return nil, validationErr("A rule can have at most one '%s' condition", c.Field)
			}
			once[c.Field] = true
		}
		total += values
		out = append(out, n)
	}
	if total > maxConditionValues {
		return nil, validationErr("A rule can only have '%d' condition values", maxConditionValues)
	}
	return out, nil
}

// patternCondition normalizes a path-pattern or host-header condition,
// given in either the old Values form or its *Config form.
func patternCondition(c elbv2types.RuleCondition, hasConfig bool, cfgValues func(elbv2types.RuleCondition) []string, re *regexp.Regexp) (elbv2types.RuleCondition, int, error) {
	vals := c.Values
	if hasConfig {
		if len(c.Values) > 0 {
			return elbv2types.RuleCondition{}, 0, validationErr("A '%s' condition can specify Values or its config, not both", c.Field)
		}
		vals = cfgValues(c)
	}
	if len(vals) == 0 {
		return elbv2types.RuleCondition{}, 0, validationErr("A '%s' condition must have at least one value", c.Field)
	}
	if err := checkValues(vals, re); err != nil {
		return elbv2types.RuleCondition{}, 0, err
	}
	return elbv2types.RuleCondition{Field: c.Field, Values: slices.Clone(vals)}, len(vals), nil
}

func checkValues(vals []string, re *regexp.Regexp) error {
	if len(vals) == 0 {
		return validationErr("A condition must have at least one value")
	}
	for _, v := range vals {
		if v == "" || len(v) > 128 {
			return validationErr("Condition value '%s' must be 1 to 128 characters long", v)
		}
		if re != nil && !re.MatchString(v) {
			return validationErr("Condition value '%s' contains characters that are not allowed", v)
		}
	}
	return nil
}
