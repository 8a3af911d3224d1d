package ecr

// Notes says, per implemented operation, what minato does differently
// from Amazon ECR, for the compatibility matrix (docs/compatibility.md).
var Notes = map[string]string{
	"CreateRepository": "repositoryUri is minato's registry (the API's host:port, or --registry-host) and the name. " +
		"MUTABLE or IMMUTABLE; the *_WITH_EXCLUSION settings are refused. Scanning and encryption settings are stored, not acted on. " +
		"registryId is not checked: minato has one registry.",
	"DescribeRepositories":          "By name or all, in name order, paginated.",
	"DeleteRepository":              "force deletes the images too; their layers go with the next garbage collection.",
	"PutImageTagMutability":         "MUTABLE or IMMUTABLE; an immutable tag is refused by docker push (TAG_INVALID) and PutImage alike.",
	"PutImageScanningConfiguration": "Stored; minato scans nothing.",
	"ListImages":                    "One ID per tag, untagged images by digest; filter tagStatus. imageStatus filters are ignored (every image is ACTIVE).",
	"DescribeImages":                "Read from the registry's storage: a push is visible as soon as docker reports it. imagePushedAt is when the manifest was last put; imageSizeInBytes sums the layers (an index: its largest image). No scan findings.",
	"BatchGetImage":                 "The manifest as pushed; acceptedMediaTypes does not convert between manifest formats.",
	"BatchDeleteImage":              "A tag-only ID removes the tag, and the image with its last tag. Images an index lists are refused (ImageReferencedByManifestList).",
	"PutImage":                      "Layers must have been pushed (LayersNotFoundException); an index's images too (ReferencedImagesNotFoundException).",
	"GetAuthorizationToken":         "A token for docker login --username AWS, valid 12 hours, checked on every registry request; proxyEndpoint is minato's registry.",
	"PutLifecyclePolicy":            "Every ECR rule form (tagged with tagPrefixList or tagPatternList, untagged, any; imageCountMoreThan, sinceImagePushed in days); action expire only. Runs within seconds, after each push and hourly.",
	"GetLifecyclePolicy":            "lastEvaluatedAt is the last run.",
	"DeleteLifecyclePolicy":         "",
	"StartLifecyclePolicyPreview":   "Evaluated at once, with the code the expiry runs: status is COMPLETE when it returns.",
	"GetLifecyclePolicyPreview":     "Oldest image first; filter tagStatus and imageIds.",
	"SetRepositoryPolicy":           "Stored and returned; not evaluated (any valid registry token may push and pull).",
	"GetRepositoryPolicy":           "",
	"DeleteRepositoryPolicy":        "",
	"TagResource":                   "Repositories only; at most 50 tags.",
	"UntagResource":                 "",
	"ListTagsForResource":           "",
}
