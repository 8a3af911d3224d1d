package awsproto

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Services minato does not serve. A client aimed at minato may call any
// AWS API: the seeds' flows reach for EKS, App Mesh, CodeDeploy and
// CloudFormation beside ECS. Such a call is signed for its service (the
// SigV4 credential scope names it), so the front door knows what was asked
// for and answers, in the protocol the client expects, that minato does
// not serve it, instead of an error the client cannot parse:
//
//	JSON (X-Amz-Target)            400 {"__type": "UnknownOperationException", "message": ...}
//	Query (form, Action=)          400 <ErrorResponse> with <Code>InvalidAction</Code>
//	REST-JSON (EKS, App Mesh, ...) 400 {"__type": ..., "message": ...}, x-amzn-ErrorType
//	REST-XML (S3, Route 53, ...)   400 <ErrorResponse> with <Code>InvalidAction</Code>

// serviceNames are the names of AWS services by SigV4 signing name, for
// the message; a signing name that is not here names itself.
var serviceNames = map[string]string{
	"acm":                     "AWS Certificate Manager",
	"apigateway":              "Amazon API Gateway",
	"appmesh":                 "AWS App Mesh",
	"application-autoscaling": "Application Auto Scaling",
	"autoscaling":             "Amazon EC2 Auto Scaling",
	"cloudformation":          "AWS CloudFormation",
	"cloudfront":              "Amazon CloudFront",
	"codebuild":               "AWS CodeBuild",
	"codedeploy":              "AWS CodeDeploy",
	"codepipeline":            "AWS CodePipeline",
	"dynamodb":                "Amazon DynamoDB",
	"ec2":                     "Amazon EC2",
	"eks":                     "Amazon EKS",
	"elasticfilesystem":       "Amazon EFS",
	"events":                  "Amazon EventBridge",
	"iam":                     "AWS IAM",
	"kms":                     "AWS KMS",
	"lambda":                  "AWS Lambda",
	"monitoring":              "Amazon CloudWatch",
	"rds":                     "Amazon RDS",
	"route53":                 "Amazon Route 53",
	"s3":                      "Amazon S3",
	"servicediscovery":        "AWS Cloud Map",
	"sns":                     "Amazon SNS",
	"sqs":                     "Amazon SQS",
	"states":                  "AWS Step Functions",
	"xray":                    "AWS X-Ray",
}

// restXML are the signing names of services whose REST protocol answers
// errors in XML.
var restXML = map[string]bool{"s3": true, "route53": true, "cloudfront": true}

// serves reports whether a registered service signs with name.
func (s *Server) serves(name string) bool {
	if _, ok := s.query[name]; ok {
		return true
	}
	for _, svc := range s.json {
		if svc.SigningName == name {
			return true
		}
	}
	return false
}

// unservedMessage is the message of a call to a service minato does not
// serve.
func unservedMessage(signingName string) string {
	name := serviceNames[signingName]
	if name == "" {
		name = signingName
	}
	return fmt.Sprintf("minato does not serve the %s API (signing name %s); see docs/compatibility.md", name, signingName)
}

// unserved returns the error for a request signed for a service minato
// does not serve, and the protocol to answer it in, or nil when the
// request's service is served (or it names none: it is not signed).
func (s *Server) unserved(r *http.Request, sr *sigRequest) (*wireError, Protocol) {
	if sr == nil || sr.service == "" || s.serves(sr.service) {
		return nil, 0
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if i := strings.LastIndexByte(target, '.'); i > 0 && s.json[target[:i]] != nil {
			return nil, 0 // a served service's call scoped to another: the signature is wrong
		}
	}
	msg := unservedMessage(sr.service)
	json := &wireError{status: http.StatusBadRequest, jsonCode: "UnknownOperationException", queryCode: "UnknownOperationException", message: msg}
	xml := &wireError{status: http.StatusBadRequest, jsonCode: "InvalidAction", queryCode: "InvalidAction", message: msg}
	switch {
	case detectProtocol(r) == ProtocolJSON:
		return json, ProtocolJSON
	case strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"), queryHasAction(r.URL):
		return xml, ProtocolQuery
	case restXML[sr.service]:
		return xml, ProtocolQuery
	}
	return json, ProtocolJSON // REST-JSON
}

func queryHasAction(u *url.URL) bool { return u.Query().Get("Action") != "" }
