package logstore

import (
	"errors"
	"maps"
)

// GroupMeta is a log group's metadata as the cluster decides it.
type GroupMeta struct {
	Name          string
	Created       int64 // ms; also tells one incarnation of a name from the next
	RetentionDays int32
	Tags          map[string]string
	// Rev orders the versions of one incarnation (the state store's
	// revision of the record): a version older than the one applied is
	// not applied again. 0 always applies.
	Rev int64
}

// Meta decides group and stream metadata for every server (internal/logmeta
// keeps it in the state store). A Store given one with SetMeta asks it
// first on every change of metadata and applies here what it answers;
// events never go through it.
type Meta interface {
	// CreateGroup creates a group, or fails with ErrGroupExists.
	CreateGroup(m GroupMeta) error
	// Group returns a group, or ErrGroupNotFound.
	Group(name string) (GroupMeta, error)
	// UpdateGroup changes a group with f and returns it as stored.
	UpdateGroup(name string, f func(m *GroupMeta)) (GroupMeta, error)
	// DeleteGroup deletes a group and its streams, or fails with
	// ErrGroupNotFound.
	DeleteGroup(name string) error
	// CreateStream creates a stream and returns its creation time; when it
	// exists, it returns that stream's creation time and ErrStreamExists.
	// ErrGroupNotFound when the group does not exist.
	CreateStream(group, name string, created int64) (int64, error)
	// Stream returns a stream's creation time, or ErrStreamNotFound.
	Stream(group, name string) (int64, error)
	// DeleteStream deletes a stream, or fails with ErrStreamNotFound.
	DeleteStream(group, name string) error
}

// SetMeta makes m decide group and stream metadata from now on. Call it
// once, before the store is used.
func (s *Store) SetMeta(m Meta) { s.meta = m }

// ApplyGroup makes the group here what m says: it creates it, or updates
// its creation time, retention and tags (applying a shorter retention at
// once). Events are kept.
func (s *Store) ApplyGroup(m GroupMeta) error {
	gm := groupMeta{Name: m.Name, Created: m.Created, RetentionDays: m.RetentionDays, Tags: cloneTags(m.Tags), Rev: m.Rev}
	g, err := s.group(m.Name)
	if errors.Is(err, ErrGroupNotFound) {
		err = s.createGroupLocal(gm)
		if !errors.Is(err, ErrGroupExists) {
			return err
		}
		g, err = s.group(m.Name)
	}
	if err != nil {
		return err
	}
	g.mu.RLock()
	cur := g.meta
	g.mu.RUnlock()
	if cur.Created == gm.Created && (gm.Rev != 0 && gm.Rev < cur.Rev ||
		cur.RetentionDays == gm.RetentionDays && maps.Equal(cur.Tags, gm.Tags) && cur.Rev == gm.Rev) {
		return nil // older than what is applied, or the same
	}
	if err := g.updateMeta(func(x *groupMeta) { *x = gm }); err != nil {
		return err
	}
	if gm.RetentionDays > 0 && gm.RetentionDays != cur.RetentionDays {
		now := s.opts.now()
		_, err = g.expire(retentionCutoff(now, gm.RetentionDays), now)
	}
	return err
}

// ApplyStream creates a stream here unless it exists; its group must.
func (s *Store) ApplyStream(group, name string, created int64) error {
	g, err := s.group(group)
	if err != nil {
		return err
	}
	_, err = g.createStream(name, created)
	return err
}

// applyNewGroup applies a group Meta has just created: one of that name
// here is of an incarnation deleted elsewhere, whose events must not show
// in the new one.
func (s *Store) applyNewGroup(m GroupMeta) error {
	if err := s.RemoveGroup(m.Name); err != nil && !errors.Is(err, ErrGroupNotFound) {
		return err
	}
	return s.ApplyGroup(m)
}

// applyNewStream applies a stream Meta has just created, as applyNewGroup.
func (s *Store) applyNewStream(group, name string, created int64) error {
	if err := s.RemoveStream(group, name); err != nil && !errors.Is(err, ErrGroupNotFound) && !errors.Is(err, ErrStreamNotFound) {
		return err
	}
	return s.applyStreamFromMeta(group, name, created)
}

// applyStreamFromMeta applies a stream Meta holds, and its group first if
// it is not here yet.
func (s *Store) applyStreamFromMeta(group, name string, created int64) error {
	if _, err := s.group(group); errors.Is(err, ErrGroupNotFound) {
		m, err := s.meta.Group(group)
		if err != nil {
			return err
		}
		if err := s.ApplyGroup(m); err != nil {
			return err
		}
	}
	return s.ApplyStream(group, name, created)
}

func (s *Store) hasLocalStream(group, name string) bool {
	g, err := s.group(group)
	return err == nil && g.hasStream(name)
}

// ensureStreamMeta is EnsureStream through Meta. A stream this store holds
// costs nothing more.
func (s *Store) ensureStreamMeta(group, name string, createGroup bool) error {
	if s.hasLocalStream(group, name) {
		return nil
	}
	now := s.opts.now()
	m, err := s.meta.Group(group)
	apply := s.ApplyGroup
	if errors.Is(err, ErrGroupNotFound) && createGroup {
		m = GroupMeta{Name: group, Created: now}
		if err = s.meta.CreateGroup(m); errors.Is(err, ErrGroupExists) {
			m, err = s.meta.Group(group)
		} else {
			apply = s.applyNewGroup
		}
	}
	if err != nil {
		return err
	}
	if err := apply(m); err != nil {
		return err
	}
	created, err := s.meta.CreateStream(group, name, now)
	switch {
	case errors.Is(err, ErrStreamExists):
		return s.ApplyStream(group, name, created)
	case err != nil:
		return err
	}
	return s.applyNewStream(group, name, created)
}

// EnsureLocal makes sure this store holds a stream that Meta holds, for
// events that another server stored in it (internal/logrepl). It creates
// nothing that Meta does not hold: ErrGroupNotFound or ErrStreamNotFound
// when the group or stream was deleted. Without Meta, it creates them.
func (s *Store) EnsureLocal(group, name string) error {
	if s.meta == nil {
		return s.EnsureStream(group, name, true)
	}
	if s.hasLocalStream(group, name) {
		return nil
	}
	m, err := s.meta.Group(group)
	if err != nil {
		return err
	}
	if err := s.ApplyGroup(m); err != nil {
		return err
	}
	created, err := s.meta.Stream(group, name)
	if err != nil {
		return err
	}
	return s.ApplyStream(group, name, created)
}
