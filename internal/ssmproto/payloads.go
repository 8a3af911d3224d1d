package ssmproto

import (
	"encoding/json"
	"time"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// SchemaVersion is the MessageSchemaVersion of the open handshake.
const SchemaVersion = "1.0"

// OpenDataChannelInput is the first (text) frame a client sends on the
// stream: it presents the session's token.
type OpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId"`
	ClientVersion        string `json:"ClientVersion"`
}

// AcknowledgeContent is the payload of an acknowledge message.
type AcknowledgeContent struct {
	MessageType         string `json:"AcknowledgedMessageType"`
	MessageID           string `json:"AcknowledgedMessageId"`
	SequenceNumber      int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage bool   `json:"IsSequentialMessage"`
}

// ChannelClosedPayload is the payload of a channel_closed message: the
// session is over. The plugin prints Output (or "Exiting session").
type ChannelClosedPayload struct {
	MessageID     string `json:"MessageId"`
	CreatedDate   string `json:"CreatedDate"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	MessageType   string `json:"MessageType"`
	SchemaVersion int    `json:"SchemaVersion"`
	Output        string `json:"Output"`
}

// SizeData is the payload of a Size message: the client's terminal size.
type SizeData struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}

// Session types a handshake names.
const (
	SessionTypeShell       = "Standard_Stream"
	SessionTypeInteractive = "InteractiveCommands"
	SessionTypeNonInteract = "NonInteractiveCommands"
)

// Client actions a handshake request asks for.
const (
	ActionKMSEncryption = "KMSEncryption"
	ActionSessionType   = "SessionType"
)

// Action statuses in a handshake response.
const (
	ActionSuccess     = 1
	ActionFailed      = 2
	ActionUnsupported = 3
)

// HandshakeRequestPayload is what the agent side asks of the client first.
type HandshakeRequestPayload struct {
	AgentVersion           string                  `json:"AgentVersion"`
	RequestedClientActions []RequestedClientAction `json:"RequestedClientActions"`
}

// RequestedClientAction is one action of a handshake request.
type RequestedClientAction struct {
	ActionType       string          `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest is the parameters of a SessionType action.
type SessionTypeRequest struct {
	SessionType string `json:"SessionType"`
	Properties  any    `json:"Properties"`
}

// HandshakeResponsePayload is the client's answer to a handshake request.
type HandshakeResponsePayload struct {
	ClientVersion          string                  `json:"ClientVersion"`
	ProcessedClientActions []ProcessedClientAction `json:"ProcessedClientActions"`
	Errors                 []string                `json:"Errors"`
}

// ProcessedClientAction is one action of a handshake response.
type ProcessedClientAction struct {
	ActionType   string `json:"ActionType"`
	ActionStatus int    `json:"ActionStatus"`
	ActionResult any    `json:"ActionResult"`
	Error        string `json:"Error"`
}

// HandshakeCompletePayload ends the handshake. HandshakeTimeToComplete is
// a Go time.Duration in nanoseconds, as the plugin decodes it.
type HandshakeCompletePayload struct {
	HandshakeTimeToComplete time.Duration `json:"HandshakeTimeToComplete"`
	CustomerMessage         string        `json:"CustomerMessage"`
}
