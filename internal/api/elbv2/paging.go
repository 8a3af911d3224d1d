package elbv2

import (
	"github.com/minato-project/minato/internal/api/paging"
)

// maxPageSize is the largest PageSize ELBv2 accepts.
const maxPageSize = 400

// page returns the items after marker, at most pageSize of them, and the
// marker of the next page ("" on the last). items must be sorted by key,
// and keys unique.
func page[T any](items []T, key func(T) string, marker string, pageSize *int32) ([]T, string, error) {
	n, ok := paging.Limit(pageSize, maxPageSize, maxPageSize)
	if !ok {
		return nil, "", validationErr("Page size must be between 1 and %d", maxPageSize)
	}
	after, ok := paging.Decode(marker)
	if !ok {
		return nil, "", validationErr("The marker '%s' is not valid", marker)
	}
	start := 0
	if after != "" {
		for start < len(items) && key(items[start]) <= after {
			start++
		}
	}
	rest := items[start:]
	if len(rest) <= n {
		return rest, "", nil
	}
	return rest[:n], paging.Encode(key(rest[n-1])), nil
}
