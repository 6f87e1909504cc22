// Conversions between the wire schema (schema/sluice.fbs) and the engine's
// types (core/engine_types.h). Pure functions; no I/O.
//
// Decoders tolerate absent fields (FlatBuffers strings and vectors may be
// null): an absent string is "", an absent vector is empty.
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <sluice/wire/sluice_generated.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine_types.h"

namespace sluice::broker {

namespace fb = wire::fb;
using FbBuilder = flatbuffers::FlatBufferBuilder;

std::string Str(const flatbuffers::String* s);
std::string Bytes(const flatbuffers::Vector<uint8_t>* v);

core::EnqueueSpec FromWire(const fb::TaskSpec& spec);
core::LeaseToken FromWire(const fb::LeaseToken& token);
fb::LeaseToken ToWire(const core::LeaseToken& token);
// Filter for DlqList / DlqRedrive / DlqPurge (ids added by the caller).
core::DeadFilter FromWire(const fb::DlqFilter* filter);
bool FilterIsEmpty(const core::DeadFilter& filter);

fb::DeadReason ToWire(core::DeadReason reason);
fb::TaskState ToWire(core::TaskState state);
fb::AttemptOutcome ToWire(core::AttemptOutcome outcome);
fb::RateUnit ToWire(core::RateUnit unit);
// nullopt for a value this broker does not know (a newer peer's unit).
std::optional<core::RateUnit> FromWire(fb::RateUnit unit);
// FromWire, or kInvalidArgument naming `whose` ("tenant", "queue") rate_unit.
Result<core::RateUnit> KnownRateUnit(fb::RateUnit unit, const char* whose);

flatbuffers::Offset<fb::LeasedTask> BuildLeasedTask(FbBuilder& fbb, const core::LeasedTask& t);
// `journal`: the task's journal when the request asked for it (TaskInfo's
// journal_included), nullopt when not.
flatbuffers::Offset<fb::TaskInfo> BuildTaskInfo(
    FbBuilder& fbb, const core::TaskView& view,
    const std::optional<std::vector<std::pair<std::string, std::string>>>& journal);
flatbuffers::Offset<fb::DlqEntry> BuildDlqEntry(FbBuilder& fbb, const core::DeadRecord& dead);
flatbuffers::Offset<fb::TenantConfig> BuildTenantConfig(FbBuilder& fbb, const std::string& name,
                                                        const core::Limits& limits);
flatbuffers::Offset<fb::TenantStats> BuildTenantStats(FbBuilder& fbb, const core::TenantView& t);
flatbuffers::Offset<fb::QueueStats> BuildQueueStats(FbBuilder& fbb, const core::QueueStats& q);

}  // namespace sluice::broker
