package awsproto

import (
	"net/http"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Smithy RPC v2 CBOR (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html),
// which the current AWS SDK for Go v2 uses for CloudWatch (botocore 1.43
// implements it too, though it prefers JSON 1.0 when a model lists both):
//
//	POST /service/<ServiceName>/operation/<Operation>
//	smithy-protocol: rpc-v2-cbor
//	Content-Type: application/cbor    (absent when there is no input)
//
// The body is a CBOR map of the input's members by name; timestamps are
// tag 1 (epoch seconds, integer or float). Replies carry smithy-protocol
// too, the output as a CBOR map, and errors as a map {"__type": shape ID,
// "message": text}; a service with the awsQueryCompatible trait also sends
// x-amzn-query-error: <Query code>;Sender|Receiver, which the SDKs report
// as the error's code.
//
// The operations are the same Handlers as the service's other protocols:
// Call.Decode decodes CBOR into the same generated input types (by their
// json field names), and the output is encoded from the same types.

// CBORService is a service served in Smithy RPC v2 CBOR.
type CBORService struct {
	SigningName string // SigV4 service name, e.g. "monitoring"
	// ServiceName is the Smithy service shape's name, the path's
	// <ServiceName>, e.g. "GraniteServiceVersion20100801".
	ServiceName string
	// Namespace is the Smithy namespace of the service's shapes, for the
	// error's __type ("com.amazonaws.cloudwatch").
	Namespace string
	// QueryCompatible sends x-amzn-query-error with each error.
	QueryCompatible bool
	// ErrorShapes maps an error code to the model's error shape where the
	// two differ (a Query code "InvalidParameterValue" is the shape
	// InvalidParameterValueException); other codes are their own shape.
	ErrorShapes map[string]string
	// InternalErrorCode is the code of errors that carry no AWS code;
	// empty means "InternalFailure".
	InternalErrorCode string
	Ops               map[string]Handler
}

const (
	cborContentType = "application/cbor"
	smithyProtocol  = "rpc-v2-cbor"
)

// RegisterCBOR adds a service in RPC v2 CBOR. It panics if the service has
// no ServiceName or SigningName, or its name is taken.
func (s *Server) RegisterCBOR(svc CBORService) {
	if svc.ServiceName == "" || svc.SigningName == "" {
		panic("awsproto: CBORService needs ServiceName and SigningName")
	}
	if _, dup := s.cbor[svc.ServiceName]; dup {
		panic("awsproto: CBOR service registered twice: " + svc.ServiceName)
	}
	if svc.InternalErrorCode == "" {
		svc.InternalErrorCode = "InternalFailure"
	}
	s.cbor[svc.ServiceName] = &svc
}

func isCBOR(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Smithy-Protocol"), smithyProtocol)
}

// cborPath splits /service/<name>/operation/<op>.
func cborPath(path string) (service, op string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/service/")
	if !ok {
		return "", "", false
	}
	service, op, ok = strings.Cut(rest, "/operation/")
	if !ok || service == "" || op == "" || strings.Contains(op, "/") {
		return "", "", false
	}
	return service, op, true
}

func (x *exchange) routeCBOR() (Handler, *wireError) {
	if x.cborSvc == nil {
		return nil, newWireError(http.StatusNotFound, "UnknownOperationException",
			"Unknown service or operation: "+clip(x.r.URL.Path, maxLoggedBytes))
	}
	h := x.cborSvc.Ops[x.op]
	if h == nil {
		return nil, newWireError(http.StatusNotFound, "UnknownOperationException",
			"Unknown operation "+clip(x.op, maxLoggedBytes))
	}
	if x.r.Method != http.MethodPost {
		return nil, newWireError(http.StatusMethodNotAllowed, "MethodNotAllowed", "RPC v2 CBOR requests are POST.")
	}
	return h, nil
}

var (
	cborDec = func() cbor.DecMode {
		dm, err := cbor.DecOptions{
			DupMapKey:        cbor.DupMapKeyEnforcedAPF, // one name, one value
			MaxNestedLevels:  64,
			MaxArrayElements: 1 << 20,
			MaxMapPairs:      1 << 20,
			UTF8:             cbor.UTF8RejectInvalid,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return dm
	}()
	cborEnc = func() cbor.EncMode {
		em, err := cbor.EncOptions{Time: cbor.TimeUnixDynamic, TimeTag: cbor.EncTagRequired}.EncMode()
		if err != nil {
			panic(err)
		}
		return em
	}()
)

// decodeCBOR decodes an RPC v2 CBOR request body into v; an empty body is
// an empty input. A body that is not CBOR, or does not fit v, is a
// SerializationException.
func decodeCBOR(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := cborDec.Unmarshal(body, v); err != nil {
		msg := "The request body could not be deserialized as CBOR."
		if te, ok := err.(*cbor.UnmarshalTypeError); ok && te.StructFieldName != "" {
			msg = "Unexpected CBOR " + te.CBORType + " for field " + te.StructFieldName + "."
		}
		return newWireError(http.StatusBadRequest, "SerializationException", msg)
	}
	return nil
}

func writeCBORHeaders(w http.ResponseWriter) {
	w.Header().Set("Smithy-Protocol", smithyProtocol)
}

// writeCBORResult writes out as the reply; nil is an empty map.
func writeCBORResult(w http.ResponseWriter, out any) error {
	body := []byte{0xa0}
	if !isNil(out) {
		b, err := cborEnc.Marshal(out)
		if err != nil {
			return err
		}
		body = b
	}
	writeCBORHeaders(w)
	writeBody(w, cborContentType, http.StatusOK, body)
	return nil
}

type cborError struct {
	Type    string `cbor:"__type"`
	Message string `cbor:"message,omitempty"`
}

func writeCBORError(w http.ResponseWriter, we *wireError, svc *CBORService) {
	code := we.code(ProtocolJSON)
	typ := code
	if svc != nil {
		if shape, ok := svc.ErrorShapes[code]; ok {
			typ = shape
		}
		if svc.Namespace != "" {
			typ = svc.Namespace + "#" + typ
		}
		if svc.QueryCompatible {
			fault := "Sender"
			if !we.sender() {
				fault = "Receiver"
			}
			w.Header().Set("X-Amzn-Query-Error", we.code(ProtocolQuery)+";"+fault)
		}
	}
	body, _ := cborEnc.Marshal(cborError{Type: typ, Message: we.message})
	w.Header().Set("x-amzn-ErrorType", code)
	writeCBORHeaders(w)
	writeBody(w, cborContentType, we.status, body)
}
