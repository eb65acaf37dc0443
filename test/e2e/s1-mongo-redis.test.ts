// S1 through a real hub process on the MongoDB-wire server (jongodb, a database of its own) and Redis
// (database 14; 11–13 belong to the other e2e files). Same scenario as s1.test.ts.
import { describeS1, mongoRedisBackend } from '../support/s1-scenario.ts';

describeS1(mongoRedisBackend(14));
