// Lints an OpenAPI document (path in argv[2], YAML or JSON) against the official OpenAPI JSON schema of
// its version with @seriousme/openapi-schema-validator (ESM-only, so test/openapi.test.ts runs this with
// node). Prints {valid, version, errors} as JSON.
import { Validator } from '@seriousme/openapi-schema-validator';

const validator = new Validator();
const res = await validator.validate(process.argv[2]);
process.stdout.write(JSON.stringify({ valid: res.valid, version: validator.version, errors: res.errors ?? [] }));
