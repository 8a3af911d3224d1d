// Package state is the typed layer over the raw store: where each kind of
// record lives (its key layout) and how records are encoded. It holds no
// business rules; the task domain (internal/tasks), the API and the
// controller decide what to write.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/minato-project/minato/internal/store"
)

// Key prefixes. Every record minato keeps lives under one of these.
const (
	clustersPrefix  = "ecs/clusters/"
	familiesPrefix  = "ecs/families/"
	taskDefsPrefix  = "ecs/taskdefs/"
	servicesPrefix  = "ecs/services/"
	tasksPrefix     = "ecs/tasks/"
	instancesPrefix = "ecs/containerinstances/"
)

// ClusterKey is where cluster name is kept.
func ClusterKey(name string) string { return clustersPrefix + name }

// ClustersPrefix is the prefix of every cluster record.
func ClustersPrefix() string { return clustersPrefix }

// FamilyKey is where the revision counter of a task definition family is kept.
func FamilyKey(family string) string { return familiesPrefix + family }

// FamiliesPrefix is the prefix of every family record.
func FamiliesPrefix() string { return familiesPrefix }

// taskDefSep separates family and revision in a task definition key. It
// sorts before every character a family name may hold, so that key order is
// ECS's order: by family name ("api" before "api-worker"), then revision.
const taskDefSep = "#"

// TaskDefKey is where revision rev of family is kept. Revisions are zero
// padded so that key order is revision order.
func TaskDefKey(family string, rev int32) string {
	return fmt.Sprintf("%s%s%s%010d", taskDefsPrefix, family, taskDefSep, rev)
}

// ParseTaskDefKey returns the family and revision of a TaskDefKey.
func ParseTaskDefKey(key string) (family string, rev int32, ok bool) {
	rest, ok := strings.CutPrefix(key, taskDefsPrefix)
	if !ok {
		return "", 0, false
	}
	family, revs, ok := strings.Cut(rest, taskDefSep)
	n, err := strconv.ParseInt(revs, 10, 32)
	if !ok || err != nil {
		return "", 0, false
	}
	return family, int32(n), true
}

// TaskDefFamilyPrefix is the prefix of every revision of family.
func TaskDefFamilyPrefix(family string) string { return taskDefsPrefix + family + taskDefSep }

// TaskDefsPrefix is the prefix of every task definition.
func TaskDefsPrefix() string { return taskDefsPrefix }

// ServicesPrefix is the prefix of the services of a cluster.
func ServicesPrefix(cluster string) string { return servicesPrefix + cluster + "/" }

// AllServicesPrefix is the prefix of the services of every cluster.
func AllServicesPrefix() string { return servicesPrefix }

// TasksPrefix is the prefix of the tasks of a cluster.
func TasksPrefix(cluster string) string { return tasksPrefix + cluster + "/" }

// AllTasksPrefix is the prefix of the tasks of every cluster.
func AllTasksPrefix() string { return tasksPrefix }

// ContainerInstancesPrefix is the prefix of the container instances of a cluster.
func ContainerInstancesPrefix(cluster string) string {
	return instancesPrefix + cluster + "/"
}

// ParseServiceKey returns the cluster and name of a service record's key
// (ServiceKey); ok is false for any other key.
func ParseServiceKey(key string) (cluster, name string, ok bool) {
	return parseClusterKey(servicesPrefix, key)
}

// ParseTaskKey returns the cluster and ID of a task record's key
// (TaskKey); ok is false for any other key.
func ParseTaskKey(key string) (cluster, id string, ok bool) {
	return parseClusterKey(tasksPrefix, key)
}

// ParseContainerInstanceKey returns the cluster and ID of a container
// instance record's key; ok is false for any other key.
func ParseContainerInstanceKey(key string) (cluster, id string, ok bool) {
	return parseClusterKey(instancesPrefix, key)
}

// parseClusterKey splits prefix + cluster + "/" + name, where neither
// part is empty and name holds no slash.
func parseClusterKey(prefix, key string) (cluster, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", "", false
	}
	cluster, name, ok = strings.Cut(rest, "/")
	if !ok || cluster == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return cluster, name, true
}

// Item is a decoded record with the revision it was read at.
type Item[T any] struct {
	Key         string
	Value       T
	ModRevision int64
}

// Encode encodes a record. Records are JSON so that the store stays
// readable with ordinary tools.
func Encode(v any) ([]byte, error) { return json.Marshal(v) }

// Get reads and decodes the record at key. It returns store.ErrNotFound if
// there is none.
func Get[T any](ctx context.Context, s store.Store, key string) (Item[T], error) {
	kv, err := s.Get(ctx, key)
	if err != nil {
		return Item[T]{}, err
	}
	return decode[T](kv)
}

// List reads and decodes the records under prefix.
func List[T any](ctx context.Context, s store.Store, prefix string, opts store.ListOptions) ([]Item[T], error) {
	kvs, _, err := s.List(ctx, prefix, opts)
	if err != nil {
		return nil, err
	}
	out := make([]Item[T], 0, len(kvs))
	for _, kv := range kvs {
		it, err := decode[T](kv)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Exists reports whether any record lives under prefix.
func Exists(ctx context.Context, s store.Store, prefix string) (bool, error) {
	kvs, _, err := s.List(ctx, prefix, store.ListOptions{Limit: 1})
	return len(kvs) > 0, err
}

func decode[T any](kv store.KV) (Item[T], error) {
	var v T
	if err := json.Unmarshal(kv.Value, &v); err != nil {
		return Item[T]{}, fmt.Errorf("state: decode %q: %w", kv.Key, err)
	}
	return Item[T]{Key: kv.Key, Value: v, ModRevision: kv.ModRevision}, nil
}

// IsNotFound reports whether err says a record does not exist.
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// LastSegment returns the part of key after its last slash.
func LastSegment(key string) string {
	return key[strings.LastIndexByte(key, '/')+1:]
}
