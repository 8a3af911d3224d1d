// Package metricstore keeps CloudWatch metrics: a compact, durable
// time-series store with CloudWatch's retention for standard-resolution
// metrics.
//
// A metric (namespace, name, dimensions) is a series. Every sample put into
// a series is folded into a statistic set (SampleCount, Sum, Minimum,
// Maximum) in three tiers of buckets, as CloudWatch keeps them:
//
//	tier  bucket     kept for
//	m1    1 minute   15 days
//	m5    5 minutes  63 days
//	h1    1 hour     455 days
//
// So a series costs at most 21,600 + 18,144 + 10,920 buckets of 40 bytes
// however often it is written: the store's size is bounded by the number of
// series (MaxSeries) and never grows with the sample rate. Samples are not
// kept one by one.
//
// The buckets live in their own bbolt file (not the cluster state store),
// keyed by series ID and bucket start, so a query is one cursor range scan.
// Put is durable when it returns (one fsynced transaction per batch); Prune
// drops buckets past their tier's retention.
//
// The aggregation itself (Stats, tier choice, rolling buckets up into
// periods) is pure and in agg.go.
package metricstore
