package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// apiModel is the part of a botocore service-2.json the generator reads.
type apiModel struct {
	Metadata   metadata                 `json:"metadata"`
	Operations map[string]*operationDef `json:"operations"`
	Shapes     map[string]*shapeDef     `json:"shapes"`
}

type metadata struct {
	APIVersion     string `json:"apiVersion"`
	EndpointPrefix string `json:"endpointPrefix"`
	JSONVersion    string `json:"jsonVersion"`
	Protocol       string `json:"protocol"`
	// Protocols lists every protocol the service speaks, in the order of
	// preference (CloudWatch: smithy-rpc-v2-cbor, json, query).
	Protocols       []string `json:"protocols"`
	ServiceFullName string   `json:"serviceFullName"`
	ServiceID       string   `json:"serviceId"`
	SigningName     string   `json:"signingName"`
	TargetPrefix    string   `json:"targetPrefix"`
	XMLNamespace    string   `json:"xmlNamespace"`
}

type operationDef struct {
	Name          string     `json:"name"`
	Input         *shapeRef  `json:"input"`
	Output        *shapeRef  `json:"output"`
	Errors        []shapeRef `json:"errors"`
	Documentation string     `json:"documentation"`
}

// shapeRef is a reference to a shape: a structure member, a list member, a
// map key or value, an operation's input, output or error.
type shapeRef struct {
	Shape         string `json:"shape"`
	LocationName  string `json:"locationName"`
	Box           bool   `json:"box"`
	Flattened     bool   `json:"flattened"`
	ResultWrapper string `json:"resultWrapper"`
	Documentation string `json:"documentation"`
}

type errorDef struct {
	Code           string `json:"code"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	SenderFault    bool   `json:"senderFault"`
}

type shapeDef struct {
	Type     string    `json:"type"`
	Members  members   `json:"members"`
	Required []string  `json:"required"`
	Member   *shapeRef `json:"member"`
	Key      *shapeRef `json:"key"`
	Value    *shapeRef `json:"value"`
	Enum     []string  `json:"enum"`
	// Min and Max are the length (strings, lists, maps, blobs) or value
	// (numbers) bounds; nil when the model has none.
	Min           *json.Number `json:"min"`
	Max           *json.Number `json:"max"`
	Pattern       string       `json:"pattern"`
	Sensitive     bool         `json:"sensitive"`
	Box           bool         `json:"box"`
	Flattened     bool         `json:"flattened"`
	Document      bool         `json:"document"`
	Exception     bool         `json:"exception"`
	Fault         bool         `json:"fault"`
	Error         *errorDef    `json:"error"`
	LocationName  string       `json:"locationName"`
	Documentation string       `json:"documentation"`
}

// member is one structure member, in model order.
type member struct {
	Name string
	Ref  shapeRef
}

// members keeps the order of a structure's members as the model lists them
// (a Go map would lose it), so generated structs and validation are ordered
// like the model.
type members []member

func (ms *members) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("members: want an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return errors.New("members: want a member name")
		}
		var ref shapeRef
		if err := dec.Decode(&ref); err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
		*ms = append(*ms, member{Name: name, Ref: ref})
	}
	_, err = dec.Token()
	return err
}

// paginator is one entry of paginators-1.json. Tokens may be a string or a
// list of strings.
type paginator struct {
	InputToken  stringOrList `json:"input_token"`
	OutputToken stringOrList `json:"output_token"`
	LimitKey    stringOrList `json:"limit_key"`
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func (s stringOrList) String() string { return strings.Join(s, ",") }

// loadModel reads dir/service-2.json and, if present, dir/paginators-1.json.
func loadModel(dir string) (*apiModel, map[string]paginator, error) {
	b, err := os.ReadFile(filepath.Join(dir, "service-2.json"))
	if err != nil {
		return nil, nil, err
	}
	var m apiModel
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	pages := map[string]paginator{}
	pb, err := os.ReadFile(filepath.Join(dir, "paginators-1.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, err
	default:
		var p struct {
			Pagination map[string]paginator `json:"pagination"`
		}
		if err := json.Unmarshal(pb, &p); err != nil {
			return nil, nil, fmt.Errorf("%s paginators: %w", dir, err)
		}
		pages = p.Pagination
	}
	for name, op := range m.Operations {
		if op.Name == "" {
			op.Name = name
		}
	}
	if err := m.check(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &m, pages, nil
}

// check reports references to shapes the model does not define.
func (m *apiModel) check() error {
	has := func(ref *shapeRef, where string) error {
		if ref == nil {
			return nil
		}
		if _, ok := m.Shapes[ref.Shape]; !ok {
			return fmt.Errorf("%s refers to unknown shape %q", where, ref.Shape)
		}
		return nil
	}
	for name, sh := range m.Shapes {
		refs := []*shapeRef{sh.Member, sh.Key, sh.Value}
		for i := range sh.Members {
			refs = append(refs, &sh.Members[i].Ref)
		}
		for _, r := range refs {
			if err := has(r, "shape "+name); err != nil {
				return err
			}
		}
		switch sh.Type {
		case "list":
			if sh.Member == nil {
				return fmt.Errorf("list %s has no member", name)
			}
		case "map":
			if sh.Key == nil || sh.Value == nil {
				return fmt.Errorf("map %s lacks key or value", name)
			}
		}
	}
	for name, op := range m.Operations {
		refs := []*shapeRef{op.Input, op.Output}
		for i := range op.Errors {
			refs = append(refs, &op.Errors[i])
		}
		for _, r := range refs {
			if err := has(r, "operation "+name); err != nil {
				return err
			}
		}
	}
	return nil
}

// speaksQuery reports whether the service answers the Query protocol, as its
// only protocol or one of several (CloudWatch): its types then carry xml tags
// and pointer numbers, so that one set of types serves every protocol.
func (md metadata) speaksQuery() bool {
	return md.Protocol == "query" || slices.Contains(md.Protocols, "query")
}
