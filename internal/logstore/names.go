package logstore

import "fmt"

// CheckGroupName reports whether name is a valid log group name as
// CloudWatch Logs defines it: 1 to 512 of [.-_/#A-Za-z0-9].
func CheckGroupName(name string) error {
	if len(name) < 1 || len(name) > 512 {
		//lint:ignore ST1005 CloudWatch Logs' own message, which the client shows as it is
		return fmt.Errorf("Log group name must be between 1 and 512 characters long.")
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '/' || c == '#'
		if !ok {
			return fmt.Errorf("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", name)
		}
	}
	return nil
}

// CheckStreamName reports whether name is a valid log stream name: 1 to
// 512 characters, no ':' or '*'.
func CheckStreamName(name string) error {
	if len(name) < 1 || len(name) > 512 {
		//lint:ignore ST1005 CloudWatch Logs' own message, which the client shows as it is
		return fmt.Errorf("Log stream name must be between 1 and 512 characters long.")
	}
	for _, c := range name {
		if c == ':' || c == '*' {
			return fmt.Errorf("1 validation error detected: Value '%s' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", name)
		}
	}
	return nil
}
