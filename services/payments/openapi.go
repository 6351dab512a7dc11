package payments

import _ "embed"

// openAPI is the service's OpenAPI 3.1 document: every route its Handler serves. The
// host adds its own routes and the shared components (services/host/openapi.json).
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the service's OpenAPI document (see host.Service).
func (s *Service) OpenAPI() []byte { return openAPI }
