package agentproto

// PathPorts is where an agent asks for new host ports for a container of
// one of its tasks whose start failed because host ports placement chose
// for it are taken on the host (by a program minato does not know of).
// The control plane moves the container's dynamic mappings on those ports
// to free ones of the instance's dynamic range, in the task record, the
// task's holds and the instance's used ports at once, and answers with
// the container's host ports. The agent creates the container again with
// them; the task does not stop. Only dynamic ports move: a static
// hostPort that is taken fails the task as before.
//
// Answers: 404 when the task is not assigned to the instance, 409 when
// the task is stopping or its ports cannot move (the port is static, or
// the range is full).
const PathPorts = "/minato/agent/v1/ports"

// MovePortsRequest asks for new host ports for one container.
type MovePortsRequest struct {
	Cluster    string `json:"cluster"`
	InstanceID string `json:"instanceId"`
	TaskID     string `json:"taskId"`
	Container  string `json:"container"`
	// Busy are the container's host ports found taken.
	Busy []int `json:"busy"`
}

// MovePortsResponse holds the container's host ports after the move, in
// the order of Assignment.HostPorts.
type MovePortsResponse struct {
	HostPorts []int `json:"hostPorts"`
}
