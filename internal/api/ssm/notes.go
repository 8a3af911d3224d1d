package ssm

// Notes says, per implemented operation, what minato does differently
// from Parameter Store, for the compatibility matrix
// (docs/compatibility.md).
var Notes = map[string]string{
	"PutParameter": "String, StringList and SecureString; every value, not only SecureString, is sealed with minato's master key. " +
		"KeyId is recorded (default alias/aws/ssm), not used. Tier Intelligent-Tiering is Standard; Policies are ignored.",
	"GetParameter":        "By name, ARN, or name:version / name:label. A SecureString without WithDecryption shows minato's ciphertext.",
	"GetParameters":       "Up to 10 names; missing ones in InvalidParameters.",
	"GetParametersByPath": "One level, or every level with Recursive; ParameterFilters Type, KeyId, Label, Tier, DataType.",
	"DescribeParameters":  "ParameterFilters Name (Equals, BeginsWith, Contains), Path (OneLevel, Recursive), Type, KeyId, Tier, DataType, tag:KEY; Filters too.",
	"GetParameterHistory": "Oldest first, up to 100 versions kept.",
	"TerminateSession":    "ECS Exec sessions only (docs/exec.md); it answers for any session ID, as SSM does.",
	"ResumeSession":       "ECS Exec sessions only, on the node that issued the session; a session that is over gets no token.",
}
