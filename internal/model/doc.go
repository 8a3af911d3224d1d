// Package model is the home of minato's AWS wire types. Nothing lives in
// this package itself; it holds the go:generate lines that rebuild the
// generated packages below it from the official AWS API models.
//
//   - shape: the small hand-written runtime the generated code uses
//     (Timestamp, ValidationError, Operation, ErrorInfo, XMLMap).
//   - gen: the generator (go run ./gen -h for its flags).
//   - <service>types (ecstypes, ststypes, ...): generated, committed, never
//     edited by hand.
//
// The models are botocore's service-2.json files in shared/aws-models, which
// sits beside the repository and is not part of it: a fresh clone builds
// without it, and only `go generate ./internal/model` reads it. To add a
// service, add one go:generate line below and run go generate.
//
// # What the generator emits
//
// For each model, one file <service>types/api_gen.go with:
//
//   - Service metadata constants: ServiceID, APIVersion, Protocol, and
//     JSONVersion, TargetPrefix, SigningName, EndpointPrefix, XMLNamespace
//     where the model has them.
//   - Operations (map[string]shape.Operation): every operation with its
//     input/output shapes, errors and paginator tokens.
//   - Errors (map[string]shape.ErrorInfo) and an ErrCode<Shape> constant
//     per exception shape, valued with the wire code (the model's error.code
//     for query services, e.g. "ListenerNotFound", else the shape name).
//   - A struct per structure shape. Field names are member names with the
//     first letter upper-cased; the JSON tag is the member's locationName or
//     name. Strings and enums are values with omitzero. Integers, longs,
//     doubles and booleans are values without omitzero (AWS always sends
//     them) unless boxed ("box" on the shape or member), when they are
//     pointers with omitzero. Timestamps are shape.Timestamp, blobs []byte,
//     lists []T (structures by value), maps map[K]V, nested structures *T,
//     document shapes shape.Document; all with omitzero.
//   - For query-protocol services (sts, elbv2) also xml tags: "Name,omitempty",
//     "Name>member,omitempty" for lists (flattened lists repeat under their
//     item name), maps as shape.XMLMap; every numeric and boolean member a
//     pointer (botocore's query models carry no box traits, and absent must
//     differ from zero there); and per operation an <Op>ResponseEnvelope
//     with New<Op>ResponseEnvelope for the <OpResponse><OpResult> document.
//   - A named string type per enum shape with constants <Type><Value>, and
//     Values() and IsKnown() methods.
//   - On every struct, Validate() error: the first absent required member or
//     unknown enum value, in model member order, recursing into nested
//     structures, lists and maps, as a *shape.ValidationError whose Path reads
//     like "containerDefinitions[0].name". Unboxed numbers cannot be told
//     absent and are not checked for presence; nor are strings whose shape
//     allows "" (min 0).
//   - On structs reachable from an operation's input, Validate also checks
//     the model's min, max and pattern traits, as AWS's front end does:
//     string length in characters (Unicode code points), list and map length
//     in elements, blob length in bytes, number values; then the pattern,
//     never before the length, so an oversized value never reaches a regexp.
//     Patterns are Java regexes matched against the whole value: each is
//     translated (\uXXXX), anchored as ^(?:...)$ and compiled on first use
//     (shape.NewPattern); those Go's RE2 cannot compile (lookarounds,
//     back-references, repeat counts over 1000) are listed in a comment in
//     the generated file, and only their lengths are checked. A member's ""
//     (strings), nil (lists, maps, blobs, boxed numbers) or zero (unboxed
//     numbers, when zero is out of range) is taken as absent: the Go types
//     cannot tell it from a missing member. Output-only structs get none of
//     these checks: minato is not held to AWS's limits on what it answers,
//     and leaving them out keeps the generated files smaller.
//   - ValidationErrorCode, the error code the service answers a request that
//     breaks the model with (-invalid, else ValidationException for JSON
//     services and ValidationError for query ones), and on every operation
//     input type a ValidationErrorCode() method returning it. awsproto.Op
//     validates every decoded input before the handler runs and answers a
//     failure with that code and AWS's message ("1 validation error
//     detected: Value '...' at '...' failed to satisfy constraint: ...").
package model

// The -require pairs are rules the real service enforces that the model
// leaves out ("Container.name should not be null or empty."). -invalid names
// the error a service answers a broken model constraint with where it is not
// the protocol's usual one: CloudWatch Logs answers InvalidParameterException
// ("1 validation error detected: Value '...' at 'logStreamName' failed to
// satisfy constraint: ..."); for ECS it is the code minato's ECS API has
// always answered these checks with.

//go:generate go run ./gen -models ../../../shared/aws-models -service ecs -out ecstypes -require ContainerDefinition.name,ContainerDefinition.image -invalid InvalidParameterException
//go:generate go run ./gen -models ../../../shared/aws-models -service sts -out ststypes
//go:generate go run ./gen -models ../../../shared/aws-models -service elbv2 -out elbv2types -pkg elbv2types
//go:generate go run ./gen -models ../../../shared/aws-models -service secretsmanager -out secretsmanagertypes
//go:generate go run ./gen -models ../../../shared/aws-models -service ssm -out ssmtypes
//go:generate go run ./gen -models ../../../shared/aws-models -service logs -out logstypes -invalid InvalidParameterException
//go:generate go run ./gen -models ../../../shared/aws-models -service ecr -out ecrtypes -invalid InvalidParameterException
//go:generate go run ./gen -models ../../../shared/aws-models -service cloudwatch -out cloudwatchtypes
//go:generate go run ./gen -models ../../../shared/aws-models -service application-autoscaling -out autoscalingtypes -pkg autoscalingtypes
//go:generate go run ./gen -models ../../../shared/aws-models -service events -out eventstypes
