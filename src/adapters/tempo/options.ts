// The `tempo` options: which colour sources to ask, in which order, and where they are.
import { z } from 'zod';

export const SOURCE_NAMES = ['rte', 'api_couleur_tempo', 'edf', 'ecodevice'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

export const API_COULEUR_TEMPO_URL = 'https://www.api-couleur-tempo.fr/api';
export const RTE_URL = 'https://digital.iservices.rte-france.com';
export const EDF_URL = 'https://particulier.edf.fr';
export const EDF_COMMERCE_URL = 'https://api-commerce.edf.fr';

export const tempoOptions = z
  .object({
    /** Asked in this order; the first that gives a date's colour wins. Default: every configured source. */
    /** Off by default: the add-on's editor always stores a tempo block, and homes outside France have no use for it. */
    enabled: z.boolean().default(false),
    /** Empty: every configured source, in the order rte, api_couleur_tempo, edf, ecodevice. */
    sources: z.array(z.enum(SOURCE_NAMES)).optional(),
    /** RTE data portal application (Tempo Like Supply Contract); both or neither. */
    rte_client_id: z.string().min(1).optional(),
    rte_client_secret: z.string().min(1).optional(),
    /** An EcoDevice (v1) reading the meter's teleinfo: host or host:port. */
    ecodevice_host: z.string().regex(/^[a-zA-Z0-9.-]+(:\d{1,5})?$/, 'use a host name or address, optionally with :port, e.g. 192.168.1.30').optional(),
    api_couleur_tempo_url: z.string().url().default(API_COULEUR_TEMPO_URL),
    rte_url: z.string().url().default(RTE_URL),
    edf_url: z.string().url().default(EDF_URL),
    edf_commerce_url: z.string().url().default(EDF_COMMERCE_URL),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.rte_client_id === undefined) !== (o.rte_client_secret === undefined)) {
      ctx.addIssue({ code: 'custom', path: [o.rte_client_id === undefined ? 'rte_client_id' : 'rte_client_secret'], message: 'RTE needs both rte_client_id and rte_client_secret' });
    }
    const listed = o.sources ?? [];
    if (new Set(listed).size !== listed.length) ctx.addIssue({ code: 'custom', path: ['sources'], message: 'lists a source twice' });
    if (listed.includes('rte') && (o.rte_client_id === undefined || o.rte_client_secret === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['sources'], message: "lists rte, which needs rte_client_id and rte_client_secret (an application on data.rte-france.com subscribed to 'Tempo Like Supply Contract')" });
    }
    if (listed.includes('ecodevice') && o.ecodevice_host === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sources'], message: 'lists ecodevice, which needs ecodevice_host' });
    }
  });

export type TempoOptions = z.infer<typeof tempoOptions>;

/** The sources to ask, in order: those listed, or every configured one (rte with credentials, ecodevice with a host). */
export function configuredSources(options: TempoOptions): SourceName[] {
  if (options.sources?.length) return [...options.sources];
  return SOURCE_NAMES.filter((name) => {
    if (name === 'rte') return options.rte_client_id !== undefined && options.rte_client_secret !== undefined;
    if (name === 'ecodevice') return options.ecodevice_host !== undefined;
    return true;
  });
}
