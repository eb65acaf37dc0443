// The mapping engine's public surface: declarative YAML field maps between external records and the
// canonical model (see compile.ts for the file format).
export { compileMapping, type Mapping, type MappingError, type CompiledField } from './compile.ts';
export { normalize, render, type NormalizeResult } from './normalize.ts';
export { loadMapping, checkMappings, mappingFileFor, loadConnectionMappings, type ConnectionMappings, type LoadResult } from './load.ts';
export { tryMapping } from './try.ts';
export { canonicalSchema, canonicalField, type MappingTarget } from './schema.ts';
export { parseTime, formatTime } from './coerce.ts';
