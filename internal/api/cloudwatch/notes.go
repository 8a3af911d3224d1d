package cloudwatch

// Notes says, per implemented operation, what minato does differently
// from CloudWatch, for the compatibility matrix (docs/compatibility.md).
var Notes = map[string]string{
	"PutMetricData": "Standard resolution: StorageResolution 1 is accepted and kept at one minute. " +
		"Values, StatisticValues and Values/Counts are folded into statistic sets; a bad datum refuses the whole request.",
	"GetMetricStatistics": "SampleCount, Average, Sum, Minimum, Maximum; no ExtendedStatistics (percentiles). " +
		"Retention and resolution as CloudWatch's standard metrics (1 minute for 15 days, 5 minutes for 63, 1 hour for 455).",
	"GetMetricData": "Metric stat queries with the five plain statistics; no math expressions, no paging (all results in one page).",
	"ListMetrics":   "Metrics written in the last two weeks (three hours with RecentlyActive=PT3H).",
	"PutMetricAlarm": "Alarms on one metric with a plain statistic (no metric math, no percentiles, periods of whole minutes). " +
		"Evaluated every 10 s on the last complete periods; actions naming an Application Auto Scaling policy (target tracking or step) invoke it, as on AWS (on entering ALARM, then every minute while in ALARM); other actions are recorded, not executed (no SNS).",
	"DescribeAlarms":       "Metric alarms only (no composite alarms).",
	"DeleteAlarms":         "Names that are no alarm are skipped; the others are deleted.",
	"DescribeAlarmHistory": "The last 100 items of each alarm: ConfigurationUpdate and StateUpdate.",
}
