// Package awsproto speaks the AWS wire protocols that minato serves on its one
// API listener, so that the aws CLI and the AWS SDKs work against minato with
// only the endpoint changed.
//
// What is in it:
//
//   - Server, an http.Handler built by NewServer. It verifies the SigV4
//     signature of every request against a KeyStore, routes the request to a
//     registered service and writes the reply or the error. A request that
//     has not proven who sent it holds no processing slot and little memory:
//     the header part of its signature is checked before its body is read,
//     and the body is read outside the slots at a minimum rate, within
//     per-address and memory bounds (preauth.go). NewHTTPServer is the
//     http.Server with the limits against slow headers.
//   - JSONService (AWS JSON 1.1: POST /, X-Amz-Target: Prefix.Operation) and
//     QueryService (form-encoded Action=...&Version=..., XML replies), which
//     map operation names to Handlers. Op adapts a typed function to a Handler.
//   - Call, what a Handler gets: the body, the principal, the SigV4 scope, the
//     request ID, and Decode, which understands the request's protocol.
//     DecodeForm is the Query protocol's reflective form decoder.
//   - The error mapping: this is the one place in minato where a core.Error's
//     Kind and Code become an AWS wire error (status, __type / <Code>), and
//     where the message is capped, so that no caller gets its megabyte of
//     input echoed back.
//
// Signatures are checked with the AWS SDK for Go v2 signer: the request is
// rebuilt with exactly the headers the client signed, re-signed at the
// client's X-Amz-Date and the signatures compared in constant time.
package awsproto
