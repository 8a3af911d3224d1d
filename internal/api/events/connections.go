package events

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/events"
	ev "github.com/minato-project/minato/internal/model/eventstypes"
	"github.com/minato-project/minato/internal/model/shape"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

func connectionARN(s arn.Scope, c state.Connection) string {
	return s.New("events", "connection/"+c.Name+"/"+c.ID)
}

// APIDestinationARN is the ARN of an API destination.
func APIDestinationARN(s arn.Scope, d state.APIDestination) string {
	return s.New("events", "api-destination/"+d.Name+"/"+d.ID)
}

// NameOfARN returns the name in an ARN whose resource is kind/name[/id].
func NameOfARN(a, kind string) (string, bool) {
	p, err := arn.Parse(a)
	if err != nil || p.Service != "events" {
		return "", false
	}
	rest, ok := strings.CutPrefix(p.Resource, kind+"/")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, name != ""
}

// CreateConnection creates a connection (BASIC or API_KEY).
func (a *API) CreateConnection(ctx context.Context, c *awsproto.Call, in *ev.CreateConnectionRequest) (*ev.CreateConnectionResponse, error) {
	now := a.now()
	conn := state.Connection{ID: events.UUID(a.ids.NewID()), Name: in.Name, Description: in.Description,
		AuthorizationType: string(in.AuthorizationType), CreatedAt: now, ModifiedAt: now}
	p := in.AuthParameters
	if p == nil {
		return nil, validation("Parameter AuthParameters must be specified.")
	}
	conn.HTTPParameters = p.InvocationHttpParameters
	switch in.AuthorizationType {
	case ev.ConnectionAuthorizationTypeBasic:
		if p.BasicAuthParameters == nil {
			return nil, validation("BasicAuthParameters must be specified for authorization type BASIC.")
		}
		conn.BasicUsername, conn.BasicPassword = p.BasicAuthParameters.Username, p.BasicAuthParameters.Password
	case ev.ConnectionAuthorizationTypeApiKey:
		if p.ApiKeyAuthParameters == nil {
			return nil, validation("ApiKeyAuthParameters must be specified for authorization type API_KEY.")
		}
		conn.APIKeyName, conn.APIKeyValue = p.ApiKeyAuthParameters.ApiKeyName, p.ApiKeyAuthParameters.ApiKeyValue
	default:
		return nil, validation("Authorization type %s is not supported by minato (BASIC and API_KEY are).", in.AuthorizationType)
	}
	b, err := state.Encode(conn)
	if err != nil {
		return nil, err
	}
	key := state.ConnectionKey(in.Name)
	if _, err := a.store.Txn(ctx, []store.Cond{store.MustNotExist(key)}, []store.Op{store.Put(key, b)}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, exists("Connection %s already exists.", in.Name)
		}
		return nil, err
	}
	return &ev.CreateConnectionResponse{ConnectionArn: connectionARN(a.scope(c), conn), ConnectionState: ev.ConnectionStateAuthorized,
		CreationTime: shape.NewTimestamp(now), LastModifiedTime: shape.NewTimestamp(now)}, nil
}

func (a *API) getConnection(ctx context.Context, name string) (state.Item[state.Connection], error) {
	it, err := state.Get[state.Connection](ctx, a.store, state.ConnectionKey(name))
	if state.IsNotFound(err) {
		return it, notFound("Failed to describe the connection(s). Connection '%s' does not exist.", name)
	}
	return it, err
}

// DescribeConnection describes a connection (never its secrets).
func (a *API) DescribeConnection(ctx context.Context, c *awsproto.Call, in *ev.DescribeConnectionRequest) (*ev.DescribeConnectionResponse, error) {
	it, err := a.getConnection(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	cn := it.Value
	out := &ev.DescribeConnectionResponse{ConnectionArn: connectionARN(a.scope(c), cn), Name: cn.Name, Description: cn.Description,
		ConnectionState: ev.ConnectionStateAuthorized, AuthorizationType: ev.ConnectionAuthorizationType(cn.AuthorizationType),
		CreationTime: shape.NewTimestamp(cn.CreatedAt), LastModifiedTime: shape.NewTimestamp(cn.ModifiedAt),
		LastAuthorizedTime: shape.NewTimestamp(cn.CreatedAt),
		AuthParameters:     &ev.ConnectionAuthResponseParameters{InvocationHttpParameters: cn.HTTPParameters}}
	switch cn.AuthorizationType {
	case string(ev.ConnectionAuthorizationTypeBasic):
		out.AuthParameters.BasicAuthParameters = &ev.ConnectionBasicAuthResponseParameters{Username: cn.BasicUsername}
	case string(ev.ConnectionAuthorizationTypeApiKey):
		out.AuthParameters.ApiKeyAuthParameters = &ev.ConnectionApiKeyAuthResponseParameters{ApiKeyName: cn.APIKeyName}
	}
	return out, nil
}

// ListConnections lists connections.
func (a *API) ListConnections(ctx context.Context, c *awsproto.Call, in *ev.ListConnectionsRequest) (*ev.ListConnectionsResponse, error) {
	items, err := state.List[state.Connection](ctx, a.store, state.ConnectionsPrefix()+in.NamePrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var all []ev.Connection
	for _, it := range items {
		cn := it.Value
		all = append(all, ev.Connection{ConnectionArn: connectionARN(a.scope(c), cn), Name: cn.Name, ConnectionState: ev.ConnectionStateAuthorized,
			AuthorizationType: ev.ConnectionAuthorizationType(cn.AuthorizationType), CreationTime: shape.NewTimestamp(cn.CreatedAt),
			LastModifiedTime: shape.NewTimestamp(cn.ModifiedAt), LastAuthorizedTime: shape.NewTimestamp(cn.CreatedAt)})
	}
	got, next, err := page(all, func(x ev.Connection) string { return x.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListConnectionsResponse{Connections: got, NextToken: next}, nil
}

// DeleteConnection deletes a connection.
func (a *API) DeleteConnection(ctx context.Context, c *awsproto.Call, in *ev.DeleteConnectionRequest) (*ev.DeleteConnectionResponse, error) {
	it, err := a.getConnection(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	if _, err := a.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, []store.Op{store.Delete(it.Key)}); err != nil {
		return nil, err
	}
	cn := it.Value
	return &ev.DeleteConnectionResponse{ConnectionArn: connectionARN(a.scope(c), cn), ConnectionState: ev.ConnectionStateDeleting,
		CreationTime: shape.NewTimestamp(cn.CreatedAt), LastModifiedTime: shape.NewTimestamp(a.now())}, nil
}

// CreateApiDestination creates an API destination.
func (a *API) CreateApiDestination(ctx context.Context, c *awsproto.Call, in *ev.CreateApiDestinationRequest) (*ev.CreateApiDestinationResponse, error) {
	connName, ok := NameOfARN(in.ConnectionArn, "connection")
	if !ok {
		return nil, validation("Parameter ConnectionArn is not valid.")
	}
	if _, err := a.getConnection(ctx, connName); err != nil {
		return nil, err
	}
	u, err := url.Parse(in.InvocationEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, validation("Parameter InvocationEndpoint is not valid.")
	}
	now := a.now()
	d := state.APIDestination{ID: events.UUID(a.ids.NewID()), Name: in.Name, Description: in.Description, Connection: connName,
		Endpoint: in.InvocationEndpoint, Method: string(in.HttpMethod), RateLimitPerSecond: in.InvocationRateLimitPerSecond, CreatedAt: now, ModifiedAt: now}
	b, err := state.Encode(d)
	if err != nil {
		return nil, err
	}
	key := state.APIDestinationKey(in.Name)
	if _, err := a.store.Txn(ctx, []store.Cond{store.MustNotExist(key)}, []store.Op{store.Put(key, b)}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, exists("An api-destination '%s' already exists.", in.Name)
		}
		return nil, err
	}
	return &ev.CreateApiDestinationResponse{ApiDestinationArn: APIDestinationARN(a.scope(c), d), ApiDestinationState: ev.ApiDestinationStateActive,
		CreationTime: shape.NewTimestamp(now), LastModifiedTime: shape.NewTimestamp(now)}, nil
}

func (a *API) getDestination(ctx context.Context, name string) (state.Item[state.APIDestination], error) {
	it, err := state.Get[state.APIDestination](ctx, a.store, state.APIDestinationKey(name))
	if state.IsNotFound(err) {
		return it, notFound("Failed to describe the api-destination(s). An api-destination '%s' does not exist.", name)
	}
	return it, err
}

func (a *API) renderDestination(c *awsproto.Call, d state.APIDestination) ev.DescribeApiDestinationResponse {
	s := a.scope(c)
	return ev.DescribeApiDestinationResponse{ApiDestinationArn: APIDestinationARN(s, d), Name: d.Name, Description: d.Description,
		ApiDestinationState: ev.ApiDestinationStateActive, ConnectionArn: s.New("events", "connection/"+d.Connection),
		InvocationEndpoint: d.Endpoint, HttpMethod: ev.ApiDestinationHttpMethod(d.Method), InvocationRateLimitPerSecond: d.RateLimitPerSecond,
		CreationTime: shape.NewTimestamp(d.CreatedAt), LastModifiedTime: shape.NewTimestamp(d.ModifiedAt)}
}

// DescribeApiDestination describes an API destination.
func (a *API) DescribeApiDestination(ctx context.Context, c *awsproto.Call, in *ev.DescribeApiDestinationRequest) (*ev.DescribeApiDestinationResponse, error) {
	it, err := a.getDestination(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	out := a.renderDestination(c, it.Value)
	if cn, err := a.getConnection(ctx, it.Value.Connection); err == nil {
		out.ConnectionArn = connectionARN(a.scope(c), cn.Value)
	}
	return &out, nil
}

// ListApiDestinations lists API destinations.
func (a *API) ListApiDestinations(ctx context.Context, c *awsproto.Call, in *ev.ListApiDestinationsRequest) (*ev.ListApiDestinationsResponse, error) {
	items, err := state.List[state.APIDestination](ctx, a.store, state.APIDestinationsPrefix()+in.NamePrefix, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	var all []ev.ApiDestination
	for _, it := range items {
		d := a.renderDestination(c, it.Value)
		if in.ConnectionArn != "" {
			if n, _ := NameOfARN(in.ConnectionArn, "connection"); n != it.Value.Connection {
				continue
			}
		}
		all = append(all, ev.ApiDestination{ApiDestinationArn: d.ApiDestinationArn, Name: d.Name, ApiDestinationState: d.ApiDestinationState,
			ConnectionArn: d.ConnectionArn, InvocationEndpoint: d.InvocationEndpoint, HttpMethod: d.HttpMethod,
			InvocationRateLimitPerSecond: d.InvocationRateLimitPerSecond, CreationTime: d.CreationTime, LastModifiedTime: d.LastModifiedTime})
	}
	got, next, err := page(all, func(x ev.ApiDestination) string { return x.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return &ev.ListApiDestinationsResponse{ApiDestinations: got, NextToken: next}, nil
}

// DeleteApiDestination deletes an API destination.
func (a *API) DeleteApiDestination(ctx context.Context, c *awsproto.Call, in *ev.DeleteApiDestinationRequest) (*struct{}, error) {
	it, err := a.getDestination(ctx, in.Name)
	if err != nil {
		return nil, err
	}
	_, err = a.store.Txn(ctx, []store.Cond{{Key: it.Key, ModRevision: it.ModRevision}}, []store.Op{store.Delete(it.Key)})
	return nil, err
}
