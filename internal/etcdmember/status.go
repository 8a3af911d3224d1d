package etcdmember

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// statusTimeout bounds the status call to one member.
const statusTimeout = 2 * time.Second

// MemberStatus is one etcd member as `minato server members` shows it.
type MemberStatus struct {
	ID         uint64
	Name       string // empty for a member added and not started yet
	PeerURLs   []string
	ClientURLs []string
	Learner    bool
	// Leader: the member is raft's leader, as the members that answered
	// say.
	Leader bool
	// Healthy: the member answered a status call within two seconds, and
	// Err is empty.
	Healthy bool
	Err     string
	// Of a healthy member: its etcd version, backend size in bytes (on
	// disk, and in use), raft term and applied index, and alarms.
	Version        string
	DBSize, DBUsed int64
	RaftTerm       uint64
	RaftApplied    uint64
	Errors         []string
}

// Status lists the members of the cluster cli is a client of, asking each
// for its status (in parallel, two seconds each). It works for embedded
// members and for an external etcd cluster alike.
func Status(ctx context.Context, cli *clientv3.Client) ([]MemberStatus, error) {
	list, err := cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MemberStatus, len(list.Members))
	leaders := make(chan uint64, len(list.Members))
	done := make(chan struct{}, len(list.Members))
	for i, m := range list.Members {
		out[i] = MemberStatus{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, Learner: m.IsLearner}
		go func(st *MemberStatus) {
			defer func() { done <- struct{}{} }()
			if len(st.ClientURLs) == 0 {
				st.Err = "not started"
				return
			}
			var errs []error
			for _, u := range st.ClientURLs {
				c, cancel := context.WithTimeout(ctx, statusTimeout)
				resp, err := cli.Status(c, u)
				cancel()
				if err != nil {
					errs = append(errs, err)
					continue
				}
				st.Healthy, st.Version = true, resp.Version
				st.DBSize, st.DBUsed = resp.DbSize, resp.DbSizeInUse
				st.RaftTerm, st.RaftApplied = resp.RaftTerm, resp.RaftAppliedIndex
				st.Errors = resp.Errors
				leaders <- resp.Leader
				return
			}
			st.Err = errors.Join(errs...).Error()
		}(&out[i])
	}
	for range out {
		<-done
	}
	close(leaders)
	for id := range leaders {
		for i := range out {
			if out[i].ID == id && id != 0 {
				out[i].Leader = true
			}
		}
	}
	return out, nil
}
