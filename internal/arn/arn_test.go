package arn

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ARN
		wantErr bool
	}{
		{name: "cluster", in: "arn:aws:ecs:us-east-1:000000000000:cluster/web",
			want: ARN{Partition: "aws", Service: "ecs", Region: "us-east-1", AccountID: "000000000000", Resource: "cluster/web"}},
		{name: "resource with colons", in: "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db:host::",
			want: ARN{Partition: "aws", Service: "secretsmanager", Region: "ap-northeast-1", AccountID: "123456789012", Resource: "secret:db:host::"}},
		{name: "iam has no region", in: "arn:aws:iam::xxx:role/ecsTaskRole",
			want: ARN{Partition: "aws", Service: "iam", AccountID: "xxx", Resource: "role/ecsTaskRole"}},
		{name: "not an arn", in: "web", wantErr: true},
		{name: "too few parts", in: "arn:aws:ecs:us-east-1", wantErr: true},
		{name: "empty resource", in: "arn:aws:ecs:us-east-1:1:", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr {
				if got != tt.want {
					t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
				}
				if got.String() != tt.in {
					t.Fatalf("String() = %q, want %q", got.String(), tt.in)
				}
			}
		})
	}
}

func TestScopeNew(t *testing.T) {
	s := Scope{Region: "eu-west-1", AccountID: "000000000000"}
	if got, want := s.New("ecs", "cluster/default"), "arn:aws:ecs:eu-west-1:000000000000:cluster/default"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
