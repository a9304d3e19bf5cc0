import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import {
  CanonicalEmbeddingsRequest,
  decodeEmbeddingsResponse,
  decodeMistralEmbeddingsRequest,
  decodeOpenAIEmbeddingsRequest,
  encodeMistralEmbeddingsRequest,
  encodeMistralEmbeddingsResponse,
  encodeOpenAIEmbeddingsRequest,
  encodeOpenAIEmbeddingsResponse,
} from '@asc/providers';
import { policyV1 } from '@asc/contracts';
import type { Principal, RoutableModel } from './control-plane.port';
import { GatewayService, GovernedCall } from './gateway.service';
import type { InboundApi } from './inbound-apis';
import { IngressError } from './ingress.error';
import type { RequestRecord } from './request-record';

type JsonObject = Record<string, unknown>;
export type EmbeddingsApi = 'openai' | 'mistral';

export interface InboundEmbeddings {
  api: EmbeddingsApi;
  body: JsonObject;
  request: CanonicalEmbeddingsRequest;
}

const EMBEDDING_DECODERS = { openai: decodeOpenAIEmbeddingsRequest, mistral: decodeMistralEmbeddingsRequest } as const;

/** Embeddings, the model list and token counting: the requests around chat. */
@Injectable()
export class CatalogService {
  constructor(private readonly gateway: GatewayService) {}

  parseEmbeddings(api: EmbeddingsApi, body: unknown): InboundEmbeddings {
    const request = EMBEDDING_DECODERS[api](body);
    return { api, body: body as JsonObject, request };
  }

  async embed(record: RequestRecord, call: GovernedCall, inbound: InboundEmbeddings): Promise<unknown> {
    if (call.upstreamApi === 'anthropic') {
      throw new IngressError('unsupported_operation', `the model ${inbound.request.model} is served by Anthropic, which has no embeddings API`, 400, 'model');
    }
    const model = call.deployment.upstreamModel;
    const passthrough = inbound.api === call.upstreamApi;
    const body = passthrough
      ? { ...inbound.body, model }
      : call.upstreamApi === 'mistral'
        ? encodeMistralEmbeddingsRequest(inbound.request, model)
        : encodeOpenAIEmbeddingsRequest(inbound.request, model);
    const response = await this.gateway.upstream.postJson(this.gateway.target(call), '/embeddings', body, this.gateway.callOptions(record));
    const decoded = decodeEmbeddingsResponse(response.body);
    this.gateway.meter(record, call, { inputTokens: decoded.inputTokens, outputTokens: 0 }, false);
    if (passthrough) return response.body;
    return inbound.api === 'mistral'
      ? encodeMistralEmbeddingsResponse(decoded, inbound.request.model, randomBytes(16).toString('hex'))
      : encodeOpenAIEmbeddingsResponse(decoded, inbound.request.model);
  }

  /** Anthropic's token counting, forwarded to an Anthropic deployment (others have no exact count to offer). */
  async countTokens(record: RequestRecord, call: GovernedCall, body: JsonObject): Promise<unknown> {
    if (call.upstreamApi !== 'anthropic') {
      throw new IngressError(
        'unsupported_operation',
        `the model ${record.requestedModel} is served by ${call.deployment.provider}, which cannot count tokens exactly; count_tokens needs an Anthropic deployment`,
        400,
        'model',
      );
    }
    const response = await this.gateway.upstream.postJson(
      this.gateway.target(call),
      '/messages/count_tokens',
      { ...body, model: call.deployment.upstreamModel },
      this.gateway.callOptions(record),
    );
    return response.body;
  }

  /** The models this principal may call, in the caller's API shape. */
  async listModels(principal: Principal, api: InboundApi): Promise<JsonObject> {
    const routable = await this.gateway.controlPlane.listModels(principal);
    const decisions = await Promise.all(routable.map((m) => this.gateway.controlPlane.decide(principal, m.model, 'chat.completions')));
    const usable = routable.filter((m, i) => {
      const d = decisions[i];
      if (d.decision !== policyV1.Decision.DECISION_ALLOW) return false;
      return d.allowedRegions.includes('*') || m.regions.some((r) => d.allowedRegions.includes(r));
    });
    return encodeModelList(api, usable, principal.tenantId);
  }
}

function encodeModelList(api: InboundApi, models: RoutableModel[], tenantId: string): JsonObject {
  const ownedBy = (m: RoutableModel) => (m.tenantOwned ? tenantId : m.providers.join(','));
  if (api === 'anthropic') {
    const data = models.map((m) => ({ type: 'model', id: m.model, display_name: m.model, created_at: new Date(m.createdUnix * 1000).toISOString() }));
    return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null };
  }
  if (api === 'mistral') {
    return {
      object: 'list',
      data: models.map((m) => ({
        id: m.model,
        object: 'model',
        created: m.createdUnix,
        owned_by: ownedBy(m),
        type: 'base',
        capabilities: { completion_chat: true, completion_fim: false, function_calling: true, fine_tuning: false, vision: false },
      })),
    };
  }
  return { object: 'list', data: models.map((m) => ({ id: m.model, object: 'model', created: m.createdUnix, owned_by: ownedBy(m) })) };
}
