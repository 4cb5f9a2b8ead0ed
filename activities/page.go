package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/temporal"

	"github.com/irflow/irflow/incident"
)

// Page publishes escalation pages to SNS topics; PagerDuty, Opsgenie, SMS or
// e-mail subscribe to those topics. Delivery is at least once: a retried
// publish can page twice, which beats not paging.
type Page struct {
	SNS *sns.Client
}

// PageInput is the argument of Page.PageTargets.
type PageInput struct {
	Incident incident.Incident `json:"incident"`
	// Level is the 0-based escalation level being paged.
	Level  int      `json:"level"`
	Topics []string `json:"topics"`
	Reason string   `json:"reason"`
}

// PageResult lists the SNS message IDs, one per topic.
type PageResult struct {
	MessageIDs []string `json:"message_ids"`
}

// PageMessage is the JSON body subscribers receive.
type PageMessage struct {
	IncidentID string `json:"incident_id"`
	Title      string `json:"title"`
	Severity   string `json:"severity"`
	Status     string `json:"status"`
	Rule       string `json:"rule"`
	Env        string `json:"env,omitempty"`
	Level      int    `json:"level"`
	Reason     string `json:"reason"`
}

// ErrTypePageUnconfigured marks a page that cannot work until config changes.
const ErrTypePageUnconfigured = "PageUnconfigured"

// PageTargets publishes one message per topic.
func (p *Page) PageTargets(ctx context.Context, in PageInput) (PageResult, error) {
	var res PageResult
	if p.SNS == nil {
		return res, temporal.NewNonRetryableApplicationError(
			"escalation pages an SNS topic but the worker has no SNS client (set AWS_REGION and credentials)", ErrTypePageUnconfigured, nil)
	}
	inc := &in.Incident
	body, err := json.Marshal(PageMessage{
		IncidentID: inc.ID, Title: inc.Title(), Severity: inc.Severity.String(), Status: string(inc.Status),
		Rule: inc.Alert.Rule, Env: inc.Alert.Env, Level: in.Level + 1, Reason: in.Reason,
	})
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("encode page", "PageEncode", err)
	}
	subject := fmt.Sprintf("%s %s", inc.Severity.Emoji(), inc.Title())
	if len(subject) > 100 { // SNS's limit
		subject = subject[:97] + "..."
	}
	for _, topic := range in.Topics {
		out, err := p.SNS.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(topic),
			Subject:  aws.String(subject),
			Message:  aws.String(string(body)),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				"incident_id": {DataType: aws.String("String"), StringValue: aws.String(inc.ID)},
				"severity":    {DataType: aws.String("String"), StringValue: aws.String(inc.Severity.String())},
			},
		})
		if err != nil {
			// AWS says NotFoundException, emulators say NotFound; retrying cannot create the topic.
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NotFoundException") {
				return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("page %s: topic not found (%s)", topic, apiErr.ErrorMessage()), "PageTopicNotFound", nil)
			}
			return res, fmt.Errorf("page %s: %w", topic, err)
		}
		res.MessageIDs = append(res.MessageIDs, aws.ToString(out.MessageId))
	}
	return res, nil
}
