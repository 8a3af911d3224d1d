package agentproto

// ECS Exec between the control plane and an agent. The control plane holds
// an agent's exec long poll (PathExecWait) open and answers it with the
// sessions to run on the host; for each, the agent runs the command in the
// container (Docker exec with a TTY) and dials a WebSocket back
// (PathExecAttach?session=ID) that carries the session's bytes both ways as
// binary frames, each one kind byte then its data:
//
//	agent → control plane: ExecOutput (terminal output), ExecExit (ExecResult JSON)
//	control plane → agent: ExecInput (keyboard input), ExecResize (ExecSize JSON), ExecClose
const (
	PathExecWait   = "/minato/agent/v1/exec/wait"
	PathExecAttach = "/minato/agent/v1/exec/attach"
)

// Frame kinds of the exec WebSocket.
const (
	ExecOutput byte = 'o'
	ExecExit   byte = 'x'
	ExecInput  byte = 'i'
	ExecResize byte = 'r'
	ExecClose  byte = 'c'
)

// ExecWaitResponse is the answer to an exec long poll: the sessions to
// attach (none when the poll timed out).
type ExecWaitResponse struct {
	Sessions []ExecRequest `json:"sessions"`
}

// ExecRequest is one command to run in one container of a task.
type ExecRequest struct {
	SessionID string   `json:"sessionId"`
	Cluster   string   `json:"cluster"`
	TaskID    string   `json:"taskId"`
	Container string   `json:"container"`
	Command   []string `json:"command"`
	Cols      uint     `json:"cols,omitzero"`
	Rows      uint     `json:"rows,omitzero"`
}

// ExecSize is a terminal size.
type ExecSize struct {
	Cols uint `json:"cols"`
	Rows uint `json:"rows"`
}

// ExecResult ends a session: the command's exit code, or why it could not
// run.
type ExecResult struct {
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitzero"`
}
