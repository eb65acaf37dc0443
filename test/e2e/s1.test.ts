// S1 through a real hub process (`node src/server.ts`) on the embedded default: SQLite store and
// embedded queue. The scenario (webhook approval across a restart, lost webhook found by
// reconciliation, rejection with its reason) is in test/support/s1-scenario.ts.
import { describeS1, embeddedBackend } from '../support/s1-scenario.ts';

describeS1(embeddedBackend);
