package logstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minato-project/minato/internal/core"
)

// Errors of the store, tested with errors.Is. internal/api/logs turns
// them into CloudWatch Logs' exceptions.
var (
	ErrGroupNotFound  = errors.New("logstore: log group does not exist")
	ErrGroupExists    = errors.New("logstore: log group already exists")
	ErrStreamNotFound = errors.New("logstore: log stream does not exist")
	ErrStreamExists   = errors.New("logstore: log stream already exists")
)

// Options tune a Store. The zero value is the default.
type Options struct {
	// SegmentBytes: a segment is closed to appends past this size
	// (default 64 MiB).
	SegmentBytes int64
	// SegmentAge: a segment is closed to appends once this old (default
	// 1 h), so that retention can drop old events by whole segments.
	SegmentAge time.Duration
	// BlockBytes is the granularity of the time index (default 64 KiB).
	BlockBytes int
	// NoSync skips fsync (tests and benchmarks of the encoding only).
	NoSync bool
	// SweepInterval is how often retention runs (default 1 min; negative
	// never, for tests that call Sweep).
	SweepInterval time.Duration
	Clock         core.Clock
	Logger        *slog.Logger
}

func (o *Options) defaults() {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.SegmentAge <= 0 {
		o.SegmentAge = time.Hour
	}
	if o.BlockBytes <= 0 {
		o.BlockBytes = 64 << 10
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) now() int64 { return o.Clock.Now().UnixMilli() }

func (o *Options) sync(f *os.File) error {
	if o.NoSync {
		return nil
	}
	return fdatasync(f)
}

// GroupInfo describes a log group.
type GroupInfo struct {
	Name          string
	Created       int64 // ms
	RetentionDays int32 // 0: never expire
	Tags          map[string]string
	StoredBytes   int64
}

// StreamInfo describes a log stream. The event times are 0 while it has
// no events.
type StreamInfo struct {
	Name          string
	Created       int64
	FirstEvent    int64
	LastEvent     int64
	LastIngestion int64
	StoredBytes   int64
	Events        int64 // events stored (0: the times above are unset)
}

// Store holds log groups under a directory. It is safe for concurrent use.
type Store struct {
	dir  string
	opts Options

	mu     sync.RWMutex
	groups map[string]*group

	stop chan struct{}
	done chan struct{}

	// replicate, when set, makes each batch durable elsewhere before
	// Append writes it (internal/logrepl, on a shared store).
	replicate func(group, stream string, events []Event) error
	// meta, when set, decides group and stream metadata for the cluster
	// (internal/logmeta, on the state store); this store follows it.
	meta Meta

	// ingested counts what Append stored (Ingested).
	ingestedEvents, ingestedBytes atomic.Uint64
}

// Ingested returns how many events, and bytes of their messages, Append
// has stored since the store opened (events imported from other servers
// through AppendLocal are not counted: they were ingested there).
func (s *Store) Ingested() (events, bytes uint64) {
	return s.ingestedEvents.Load(), s.ingestedBytes.Load()
}

// SetReplicate makes Append hand every batch to f, and fail if f fails,
// before it writes the batch here. Call it once, before the store is used;
// AppendLocal bypasses it (for batches that come from the replication).
func (s *Store) SetReplicate(f func(group, stream string, events []Event) error) {
	s.replicate = f
}

// Open opens (or creates) the store in dir and starts its retention sweep.
func Open(dir string, opts Options) (*Store, error) {
	opts.defaults()
	gdir := filepath.Join(dir, "groups")
	if err := os.MkdirAll(gdir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: gdir, opts: opts, groups: map[string]*group{}, stop: make(chan struct{}), done: make(chan struct{})}
	ents, err := os.ReadDir(gdir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(gdir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			os.RemoveAll(path) // a delete that did not finish
			continue
		}
		if _, err := os.Stat(filepath.Join(path, "meta.json")); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(path) // a create that did not finish
			continue
		}
		g, err := openGroup(path, &s.opts)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log group in %s: %w", path, err)
		}
		s.groups[g.meta.Name] = g
	}
	if opts.SweepInterval > 0 {
		go s.sweepLoop()
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the sweep and closes every file.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		g.close()
	}
	s.groups = map[string]*group{}
	return nil
}

func (s *Store) sweepLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.Sweep(); err != nil {
				s.opts.Logger.Warn("log retention sweep", "err", err)
			}
		}
	}
}

// Sweep enforces every group's retention now: segments whose events are
// all older than it are removed. It returns how many were removed.
func (s *Store) Sweep() (int, error) {
	now := s.opts.now()
	s.mu.RLock()
	gs := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		gs = append(gs, g)
	}
	s.mu.RUnlock()
	total := 0
	var errs []error
	for _, g := range gs {
		g.mu.RLock()
		days := g.meta.RetentionDays
		g.mu.RUnlock()
		if days <= 0 {
			continue
		}
		n, err := g.expire(retentionCutoff(now, days), now)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func retentionCutoff(now int64, days int32) int64 { return now - int64(days)*24*3600*1000 }

func (s *Store) group(name string) (*group, error) {
	s.mu.RLock()
	g := s.groups[name]
	s.mu.RUnlock()
	if g == nil {
		return nil, ErrGroupNotFound
	}
	return g, nil
}

func groupDirName(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:16])
}

// CreateGroup creates a log group.
func (s *Store) CreateGroup(name string, tags map[string]string) error {
	if s.meta != nil {
		m := GroupMeta{Name: name, Created: s.opts.now(), Tags: cloneTags(tags)}
		if err := s.meta.CreateGroup(m); err != nil {
			return err
		}
		return s.applyNewGroup(m)
	}
	return s.createGroupLocal(groupMeta{Name: name, Created: s.opts.now(), Tags: cloneTags(tags)})
}

func (s *Store) createGroupLocal(m groupMeta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[m.Name] != nil {
		return ErrGroupExists
	}
	dir := filepath.Join(s.dir, groupDirName(m.Name))
	os.RemoveAll(dir)
	g, err := createGroup(dir, m, &s.opts)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	s.groups[m.Name] = g
	return nil
}

// DeleteGroup deletes a log group with its streams and events.
func (s *Store) DeleteGroup(name string) error {
	if s.meta != nil {
		if err := s.meta.DeleteGroup(name); err != nil {
			return err
		}
		if err := s.RemoveGroup(name); err != nil && !errors.Is(err, ErrGroupNotFound) {
			return err
		}
		return nil
	}
	return s.RemoveGroup(name)
}

// RemoveGroup deletes a log group here only, whatever Meta says (for
// internal/logmeta, which follows the cluster's decisions).
func (s *Store) RemoveGroup(name string) error {
	s.mu.Lock()
	g := s.groups[name]
	if g == nil {
		s.mu.Unlock()
		return ErrGroupNotFound
	}
	delete(s.groups, name)
	s.mu.Unlock()
	g.metaMu.Lock()
	g.appendMu.Lock()
	g.mu.Lock()
	g.deleted = true
	g.mu.Unlock()
	g.appendMu.Unlock()
	g.metaMu.Unlock()
	g.close()
	trash := filepath.Join(s.dir, ".deleted-"+filepath.Base(g.dir))
	if err := os.Rename(g.dir, trash); err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// Groups returns every group whose name starts with prefix, by name.
func (s *Store) Groups(prefix string) []GroupInfo {
	s.mu.RLock()
	gs := make([]*group, 0, len(s.groups))
	for name, g := range s.groups {
		if strings.HasPrefix(name, prefix) {
			gs = append(gs, g)
		}
	}
	s.mu.RUnlock()
	out := make([]GroupInfo, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Group describes one group.
func (s *Store) Group(name string) (GroupInfo, error) {
	g, err := s.group(name)
	if err != nil {
		return GroupInfo{}, err
	}
	return g.info(), nil
}

// SetRetention sets a group's retention in days (0: never expire) and
// applies it at once.
func (s *Store) SetRetention(name string, days int32) error {
	if s.meta != nil {
		m, err := s.meta.UpdateGroup(name, func(m *GroupMeta) { m.RetentionDays = days })
		if err != nil {
			return err
		}
		return s.ApplyGroup(m)
	}
	g, err := s.group(name)
	if err != nil {
		return err
	}
	if err := g.updateMeta(func(m *groupMeta) { m.RetentionDays = days }); err != nil {
		return err
	}
	if days > 0 {
		now := s.opts.now()
		_, err = g.expire(retentionCutoff(now, days), now)
	}
	return err
}

// TagGroup adds or replaces tags of a group.
func (s *Store) TagGroup(name string, tags map[string]string) error {
	if s.meta != nil {
		m, err := s.meta.UpdateGroup(name, func(m *GroupMeta) { m.Tags = addTags(m.Tags, tags) })
		if err != nil {
			return err
		}
		return s.ApplyGroup(m)
	}
	g, err := s.group(name)
	if err != nil {
		return err
	}
	return g.updateMeta(func(m *groupMeta) {
		m.Tags = addTags(m.Tags, tags)
	})
}

func addTags(to, tags map[string]string) map[string]string {
	if to == nil {
		to = map[string]string{}
	}
	for k, v := range tags {
		to[k] = v
	}
	return to
}

// UntagGroup removes tags of a group.
func (s *Store) UntagGroup(name string, keys []string) error {
	if s.meta != nil {
		m, err := s.meta.UpdateGroup(name, func(m *GroupMeta) {
			for _, k := range keys {
				delete(m.Tags, k)
			}
		})
		if err != nil {
			return err
		}
		return s.ApplyGroup(m)
	}
	g, err := s.group(name)
	if err != nil {
		return err
	}
	return g.updateMeta(func(m *groupMeta) {
		for _, k := range keys {
			delete(m.Tags, k)
		}
	})
}

// CreateStream creates a stream in a group; ErrStreamExists if it exists.
func (s *Store) CreateStream(group, name string) error {
	if s.meta != nil {
		created, err := s.meta.CreateStream(group, name, s.opts.now())
		if err != nil {
			return err
		}
		return s.applyNewStream(group, name, created)
	}
	g, err := s.group(group)
	if err != nil {
		return err
	}
	exists, err := g.createStream(name, s.opts.now())
	if err == nil && exists {
		return ErrStreamExists
	}
	return err
}

// EnsureStream creates a stream unless it exists, and the group too when
// createGroup is set (the awslogs driver's awslogs-create-group).
func (s *Store) EnsureStream(group, name string, createGroup bool) error {
	if s.meta != nil {
		return s.ensureStreamMeta(group, name, createGroup)
	}
	g, err := s.group(group)
	if errors.Is(err, ErrGroupNotFound) && createGroup {
		if err := s.CreateGroup(group, nil); err != nil && !errors.Is(err, ErrGroupExists) {
			return err
		}
		g, err = s.group(group)
	}
	if err != nil {
		return err
	}
	_, err = g.createStream(name, s.opts.now())
	return err
}

// DeleteStream deletes a stream and its events.
func (s *Store) DeleteStream(group, name string) error {
	if s.meta != nil {
		if err := s.meta.DeleteStream(group, name); err != nil {
			return err
		}
		if err := s.RemoveStream(group, name); err != nil && !errors.Is(err, ErrStreamNotFound) && !errors.Is(err, ErrGroupNotFound) {
			return err
		}
		return nil
	}
	return s.RemoveStream(group, name)
}

// RemoveStream deletes a stream here only, whatever Meta says (for
// internal/logmeta).
func (s *Store) RemoveStream(group, name string) error {
	g, err := s.group(group)
	if err != nil {
		return err
	}
	return g.deleteStream(name)
}

// Streams returns the streams of a group whose names start with prefix,
// by name.
func (s *Store) Streams(group, prefix string) ([]StreamInfo, error) {
	g, err := s.group(group)
	if err != nil {
		return nil, err
	}
	return g.streamInfos(prefix), nil
}

// Append writes events to a stream durably: when it returns nil they are
// on disk (fsync) and visible to queries.
func (s *Store) Append(group, stream string, events []Event) (AppendResult, error) {
	g, err := s.group(group)
	if err != nil {
		return AppendResult{}, err
	}
	if s.replicate != nil {
		if !g.hasStream(stream) {
			return AppendResult{}, ErrStreamNotFound
		}
		if err := s.replicate(group, stream, events); err != nil {
			return AppendResult{}, err
		}
	}
	res, err := g.append(stream, events)
	if err == nil && res.Stored > 0 {
		n := 0
		for _, e := range events {
			n += len(e.Message)
		}
		if res.Duplicates > 0 { // resends are not counted again
			n = n * res.Stored / len(events)
		}
		s.ingestedEvents.Add(uint64(res.Stored))
		s.ingestedBytes.Add(uint64(n))
	}
	return res, err
}

// AppendLocal is Append without the replication hook.
func (s *Store) AppendLocal(group, stream string, events []Event) (AppendResult, error) {
	g, err := s.group(group)
	if err != nil {
		return AppendResult{}, err
	}
	return g.append(stream, events)
}

// Query reads events of a group; see Query.
func (s *Store) Query(q Query) (Result, error) {
	g, err := s.group(q.Group)
	if err != nil {
		return Result{}, err
	}
	return g.query(q, s.opts.now())
}

// Retention reports the retention in days of a group, for callers that
// hide expired events the sweep has not removed yet.
func (s *Store) Retention(group string) (int32, error) {
	g, err := s.group(group)
	if err != nil {
		return 0, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.meta.RetentionDays, nil
}
