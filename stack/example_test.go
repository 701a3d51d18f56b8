package stack_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	kv "github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/camstorm/camstorm/stack"
)

// Start the reference stack from a test and use it with the AWS SDK's
// Kinesis Video Streams client: only the endpoint, the trusted CA and the
// credentials change. Add stack.WithContainers() to Run to get the same
// stack as Docker containers.
func ExampleRun() {
	ctx := context.Background()
	st, err := stack.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Terminate(ctx)

	client := kv.NewFromConfig(aws.Config{Region: st.Region, HTTPClient: st.HTTPClient(), Credentials: st.AdminCredentials()},
		func(o *kv.Options) { o.BaseEndpoint = aws.String(st.ControlPlaneURL) })
	if _, err := client.CreateStream(ctx, &kv.CreateStreamInput{StreamName: aws.String("doorbell"), DataRetentionInHours: aws.Int32(24)}); err != nil {
		fmt.Println(err)
		return
	}
	out, err := client.DescribeStream(ctx, &kv.DescribeStreamInput{StreamName: aws.String("doorbell")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(aws.ToString(out.StreamInfo.StreamName), out.StreamInfo.Status, aws.ToInt32(out.StreamInfo.DataRetentionInHours))
	// Output: doorbell ACTIVE 24
}
