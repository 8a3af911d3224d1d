// Package harness is the plumbing the programs under bench/ share. It starts
// minato's real control plane (a controlplane node: bbolt store, AWS API
// listener with SigV4, agent server, service controller) and fleets of
// simulated hosts — the real internal/agent code, each agent on its own
// in-memory fake runtime, talking the real agent protocol over loopback
// HTTP — either in the calling process or in child processes of the same
// binary, so that the control plane's RSS and CPU time can be read apart
// from the simulator's. It measures them: latency summaries, RSS and CPU
// time from /proc, and pprof profiles taken inside the measured process.
//
// A program that uses child processes calls ChildMain first thing in main
// (and in TestMain): a child is the same binary started with the role in
// its environment.
package harness
