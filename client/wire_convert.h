// Conversions between the client's plain types (client/types.h) and the
// FlatBuffers messages of schema/sluice.fbs. Internal to sluice_client.
//
// Readers accept absent fields (FlatBuffers nullptr) as empty; they never fail.
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <sluice/wire/sluice_generated.h>

#include <string>
#include <vector>

#include "client/types.h"

namespace sluice::client::convert {

namespace fb = wire::fb;

// ---- writers (into a builder that is not finished yet)
flatbuffers::Offset<fb::TaskSpec> WriteTaskSpec(flatbuffers::FlatBufferBuilder& fbb,
                                                const TaskSpec& task);
flatbuffers::Offset<fb::DlqFilter> WriteDlqFilter(flatbuffers::FlatBufferBuilder& fbb,
                                                  const DlqFilter& filter);
flatbuffers::Offset<flatbuffers::Vector<uint8_t>> WriteBytes(flatbuffers::FlatBufferBuilder& fbb,
                                                             std::string_view bytes);
fb::LeaseToken ToWire(const LeaseToken& token);

// ---- readers
std::string ReadString(const flatbuffers::String* s);
std::string ReadBytes(const flatbuffers::Vector<uint8_t>* v);
LeaseToken FromWire(const fb::LeaseToken* token);
std::vector<Header> ReadHeaders(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Header>>* headers);
std::vector<JournalEntry> ReadJournal(
    const flatbuffers::Vector<flatbuffers::Offset<fb::JournalEntry>>* journal);
LeasedTask ReadLeasedTask(const fb::LeasedTask& t);
TaskInfo ReadTaskInfo(const fb::TaskInfo& t);
DlqEntry ReadDlqEntry(const fb::DlqEntry& e);
QueueStats ReadQueueStats(const fb::QueueStats& q);
TenantStats ReadTenantStats(const fb::TenantStats& t);
TenantConfig ReadTenantConfig(const fb::TenantConfig& t);
std::vector<std::string> ReadStrings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v);
LeasedBatch ReadLeasedBatch(const fb::BatchLeaseResult& r);
BatchList ReadBatchList(const fb::BatchListResult& r);
std::vector<LeaseHolderInfo> ReadLeaseHolders(const fb::WorkerListResult& r);
CredentialInfo ReadCredential(const fb::CredentialInfo& c);

}  // namespace sluice::client::convert
