// Package clusterview keeps an in-memory view of the task machinery's
// state: every container instance and task record, decoded once and indexed
// by cluster, by container instance and by service, with the sums the hot
// paths read — what each instance has left and which task groups it holds,
// task counts per instance, per service (and deployment) and per cluster.
// The task domain (placement, agents' reports), the ECS API (ListTasks,
// cluster, instance and service counts) and the service controller read it
// instead of listing and decoding every record of a cluster on every call.
//
// # Feeding
//
// The store stays the source of truth. Run lists the instance and task
// records once, then follows a watch of the whole store from the listing's
// revision, so the view's revision moves with every store revision; when
// the watch falls behind what the store keeps (store.ErrCompacted) it lists
// again. Writers that commit through Store (or Wrap) also hand each
// committed transaction to the view, which applies it whole when the watch
// reaches its revision: a transaction of several records (a placement
// writes its tasks and its instances at one revision) is never seen in part
// once its writer's Txn has returned.
//
// On etcd (SetProgress) the watch is of the store's prefix only: what other
// prefixes hold (the log batches on their way between servers, under
// "/minato-logs/") never reaches the view, and etcd's progress reports,
// which a waiting WaitFor asks for, move the view's revision past theirs.
//
// # Reading
//
// Reads are answered from memory under a read lock, and never wait for I/O.
// A reader that must see a write it knows of calls WaitFor with the write's
// revision, or Sync, which waits for the store's current revision (one cheap
// store call, and no wait when the view has caught up): read-your-writes.
// Every change at a revision below the one WaitFor returned for is applied,
// and so is every change of that revision when its writer went through
// Store. A revision written around it (by another process, or straight to
// the store) may show in part for the moment its events are being
// delivered: the store's watch does not say where a revision ends. Tests
// that write records straight to the store one per transaction are exact.
//
// What a read returns is a copy, or immutable: callers may change the
// returned structs, but the slices and maps inside records (a task's
// containers, an instance's attributes) are shared with the view and must
// be treated as read-only.
//
// # Exactness
//
// The view can be behind the store. Decisions that must be exact still
// commit with compare-and-swap conditions on the records' ModRevisions, as
// placement does on its instances: a stale view costs the writer a
// conflict and a retry after Sync, never a wrong write.
package clusterview
