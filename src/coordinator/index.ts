export { Coordinator, tasksChanged } from './coordinator.js';
export type { Actor, ClaimResult, CoordinatorDeps, ReservationOverlap, TaskNotice } from './coordinator.js';
export { planTasks, concurrentOverlaps, serializeOverlaps, findCycle } from './plan.js';
export type { TaskSpec, PlannedTask, PlanOverlap } from './plan.js';
