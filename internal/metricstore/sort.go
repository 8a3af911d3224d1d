package metricstore

import (
	"slices"
	"strings"
)

func sortInfos(infos []MetricInfo) {
	slices.SortFunc(infos, func(a, b MetricInfo) int { return strings.Compare(a.Metric.Key(), b.Metric.Key()) })
}
