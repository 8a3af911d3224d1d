package logmeta

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/minato-project/minato/internal/logstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// importedFile, in the log store's directory, says that the groups and
// streams this log store held before it followed the records were copied
// into them (once, on the first start with Follower).
const importedFile = "meta.imported"

// Follower keeps a log store in step with the records: groups and streams
// created, changed or deleted through any server are created, changed or
// deleted in it.
type Follower struct {
	Store  store.Store
	Logs   *logstore.Store
	Dir    string // the log store's directory
	Logger *slog.Logger
}

func (f *Follower) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// Import copies the groups and streams the log store holds into the
// records, the first time only: a log store kept before its metadata moved
// into the state store keeps its groups. A group the records hold already
// (another server's) keeps the records' metadata.
func (f *Follower) Import(ctx context.Context) error {
	marker := filepath.Join(f.Dir, importedFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	recs := &Records{Store: f.Store}
	for _, g := range f.Logs.Groups("") {
		err := recs.CreateGroup(logstore.GroupMeta{Name: g.Name, Created: g.Created, RetentionDays: g.RetentionDays, Tags: g.Tags})
		if err != nil && !errors.Is(err, logstore.ErrGroupExists) {
			return err
		}
		streams, err := f.Logs.Streams(g.Name, "")
		if err != nil {
			continue
		}
		for _, s := range streams {
			if _, err := recs.CreateStream(g.Name, s.Name, s.Created); err != nil && !errors.Is(err, logstore.ErrStreamExists) {
				return err
			}
		}
		if m, err := recs.Group(g.Name); err == nil {
			if err := f.Logs.ApplyGroup(m); err != nil {
				return err
			}
		}
	}
	return writeMarker(marker)
}

func writeMarker(path string) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.WriteString(time.Now().UTC().Format(time.RFC3339) + "\n"); err != nil {
		fh.Close()
		return err
	}
	return errors.Join(fh.Sync(), fh.Close())
}

// Run follows the records until ctx ends, listing again after a watch
// that fails.
func (f *Follower) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.log().Warn("log metadata: watch ended; listing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (f *Follower) follow(ctx context.Context) error {
	rev, err := f.Reconcile(ctx)
	if err != nil {
		return err
	}
	w, err := f.Store.Watch(ctx, state.LogsPrefix(), rev)
	if err != nil {
		return err
	}
	for ev := range w.Events() {
		f.apply(ev)
	}
	if err := w.Err(); err != nil {
		return err
	}
	return errors.New("watch closed")
}

// apply applies one change of a record.
func (f *Follower) apply(ev store.Event) {
	group, stream, isStream, ok := state.ParseLogKey(ev.KV.Key)
	if !ok {
		return
	}
	var err error
	switch {
	case !isStream && ev.Type == store.EventPut:
		var g state.LogGroup
		if err = json.Unmarshal(ev.KV.Value, &g); err == nil {
			err = f.applyGroup(toMeta(g, ev.KV.ModRevision))
		}
	case !isStream:
		err = f.Logs.RemoveGroup(group)
	case ev.Type == store.EventPut:
		var s state.LogStream
		if err = json.Unmarshal(ev.KV.Value, &s); err == nil {
			err = f.Logs.ApplyStream(group, stream, s.Created)
		}
	default:
		err = f.Logs.RemoveStream(group, stream)
	}
	if err != nil && !errors.Is(err, logstore.ErrGroupNotFound) && !errors.Is(err, logstore.ErrStreamNotFound) {
		f.log().Warn("log metadata: apply", "key", ev.KV.Key, "err", err)
	}
}

// applyGroup applies a group's record, replacing a group of the same name
// that is another incarnation (deleted and created again meanwhile).
func (f *Follower) applyGroup(m logstore.GroupMeta) error {
	if cur, err := f.Logs.Group(m.Name); err == nil && cur.Created != m.Created {
		if err := f.Logs.RemoveGroup(m.Name); err != nil && !errors.Is(err, logstore.ErrGroupNotFound) {
			return err
		}
	}
	return f.Logs.ApplyGroup(m)
}

// Reconcile makes the log store hold what the records hold, and nothing
// else, and returns the revision of the listing.
func (f *Follower) Reconcile(ctx context.Context) (int64, error) {
	kvs, rev, err := f.Store.List(ctx, state.LogsPrefix(), store.ListOptions{})
	if err != nil {
		return 0, err
	}
	groups := map[string]logstore.GroupMeta{}
	streams := map[string]map[string]int64{}
	var orphans []store.KV
	for _, kv := range kvs {
		group, stream, isStream, ok := state.ParseLogKey(kv.Key)
		if !ok {
			continue
		}
		if !isStream {
			var g state.LogGroup
			if err := json.Unmarshal(kv.Value, &g); err != nil {
				f.log().Warn("log metadata: bad record skipped", "key", kv.Key, "err", err)
				continue
			}
			groups[group] = toMeta(g, kv.ModRevision)
			continue
		}
		var s state.LogStream
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			f.log().Warn("log metadata: bad record skipped", "key", kv.Key, "err", err)
			continue
		}
		if streams[group] == nil {
			streams[group] = map[string]int64{}
		}
		orphans = append(orphans, kv) // unless its group is listed
		streams[group][stream] = s.Created
	}
	var errs []error
	for _, g := range f.Logs.Groups("") {
		if _, ok := groups[g.Name]; !ok {
			if err := f.Logs.RemoveGroup(g.Name); err != nil && !errors.Is(err, logstore.ErrGroupNotFound) {
				errs = append(errs, err)
			}
		}
	}
	for name, m := range groups {
		if err := f.applyGroup(m); err != nil {
			errs = append(errs, err)
			continue
		}
		want := streams[name]
		have, err := f.Logs.Streams(name, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		held := make(map[string]bool, len(have))
		for _, s := range have {
			held[s.Name] = true
			if _, ok := want[s.Name]; !ok {
				if err := f.Logs.RemoveStream(name, s.Name); err != nil && !errors.Is(err, logstore.ErrStreamNotFound) {
					errs = append(errs, err)
				}
			}
		}
		for s, created := range want {
			if !held[s] {
				if err := f.Logs.ApplyStream(name, s, created); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	// Streams of a group whose delete did not finish, each removed only
	// as listed (not one of a group made anew since).
	for _, kv := range orphans {
		group, _, _, _ := state.ParseLogKey(kv.Key)
		if _, ok := groups[group]; ok {
			continue
		}
		_, err := f.Store.Txn(ctx, []store.Cond{store.MustBeAt(kv.Key, kv.ModRevision)}, []store.Op{store.Delete(kv.Key)})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			f.log().Warn("log metadata: remove a stream of a deleted group", "key", kv.Key, "err", err)
		}
	}
	return rev, errors.Join(errs...)
}
