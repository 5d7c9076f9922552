// s3rver stores the aws-chunked framing of the SDK's default streaming
// checksums as object bytes, corrupting streamed uploads. Tests (and the local
// Lambda workers they start, which inherit this environment) ask the SDK to
// checksum only when an operation requires it. Production code never sets this.
process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
process.env.AWS_RESPONSE_CHECKSUM_VALIDATION = 'WHEN_REQUIRED';
// The AWS SDK versions are pinned below the Node 22 cut-over; its reminder is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The SDK's credential chain reads these for the destination; s3rver accepts any signature.
process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
